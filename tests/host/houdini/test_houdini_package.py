"""The Houdini package file: valid JSON that resolves, under Houdini's documented rules, to working folders.

Houdini's rules (sidefx.com/docs/houdini/ref/plugins.html), as far as they can be
checked without Houdini: $HOUDINI_PACKAGE_PATH is the folder of the package file;
``env`` entries apply in order, ``{"NAME": value}`` or ``{"var", "value", "method"}``
with method replace (the default), prepend or append, a list value joined as a
path list; ``path`` is prepended to HOUDINI_PATH (``&`` = Houdini's defaults).
GIVEN the file pointed at (HOUDINI_PACKAGE_DIR) or copied into a packages folder
with its one value edited WHEN expanded so THEN HOUDINI_PATH holds the shelf, the
Render menu and python3.11libs, PYTHONPATH the adapter and the shared client, and a
Python with that PYTHONPATH imports the tools and the TOP task.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
PACKAGE = HERE.parents[2] / "plugins" / "houdini"
DOCUMENTED_KEYS = {"env", "path", "load_package_once", "enable", "requires", "recommends", "package_path",
                   "hpath", "version"}


def _expand(text: str, env: dict[str, str]) -> str:
    # $NAME and ${NAME}; an undefined variable is left as written (the case the adapter must survive).
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: env.get(m.group(1) or m.group(2), m.group(0)), text)


def _value(value, env: dict[str, str]) -> str:
    if isinstance(value, list):
        return os.pathsep.join(_expand(v, env) for v in value)
    return _expand(str(value), env)


def resolve(package_file: Path, environ: dict[str, str]) -> dict[str, str]:
    """The environment Houdini builds from one package file (the rules above)."""
    spec = json.loads(package_file.read_text(encoding="utf-8"))
    env = dict(environ)
    env["HOUDINI_PACKAGE_PATH"] = str(package_file.parent)
    for entry in spec.get("env", []):
        if "var" in entry:
            name, value, method = entry["var"], entry["value"], entry.get("method", "replace")
        else:
            ((name, value),) = entry.items()
            method = "replace"
        new = _value(value, env)
        old = env.get(name, "")
        env[name] = {"replace": new, "prepend": os.pathsep.join(p for p in (new, old) if p),
                     "append": os.pathsep.join(p for p in (old, new) if p)}[method]
    paths = spec.get("path", [])
    paths = [paths] if isinstance(paths, str) else paths
    env["HOUDINI_PATH"] = os.pathsep.join([_expand(p, env) for p in paths] + [env.get("HOUDINI_PATH", "&")])
    return env


def _entries(value: str) -> list[Path]:
    return [Path(os.path.normpath(p)) for p in value.split(os.pathsep) if p and p != "&"]


def test_the_package_file_is_valid_json_with_documented_keys():
    spec = json.loads((PACKAGE / "framefill.json").read_text(encoding="utf-8"))
    assert set(spec) <= DOCUMENTED_KEYS
    assert spec["load_package_once"] is True and spec["path"] == "$FRAMEFILL_HOUDINI"
    names = [e.get("var") or next(iter(e)) for e in spec["env"]]
    assert names == ["FRAMEFILL_HOUDINI", "PYTHONPATH", "FRAMEFILL_PYTHON", "FRAMEFILL_MODELS",
                     "FRAMEFILL_ONNX_CACHE"]
    # framefill's model cache variable is the one the core reads
    core_cache = (HERE.parents[2] / "core" / "framefill" / "models" / "cache.py").read_text()
    assert 'os.environ.get("FRAMEFILL_MODELS")' in core_cache


@pytest.mark.parametrize("install", ["point", "copy"])
def test_the_package_resolves_to_the_plugin_folders(tmp_path, install):
    if install == "point":  # HOUDINI_PACKAGE_DIR=<checkout>/plugins/houdini: no edit
        package_file = PACKAGE / "framefill.json"
    else:  # copied into the user's packages folder, FRAMEFILL_HOUDINI set to the plugin folder
        packages = tmp_path / "houdini20.5" / "packages"
        packages.mkdir(parents=True)
        package_file = packages / "framefill.json"
        text = (PACKAGE / "framefill.json").read_text(encoding="utf-8")
        edited = text.replace('{"FRAMEFILL_HOUDINI": "$HOUDINI_PACKAGE_PATH"}',
                              '{"FRAMEFILL_HOUDINI": %s}' % json.dumps(str(PACKAGE)))
        assert edited != text
        package_file.write_text(edited, encoding="utf-8")
    env = resolve(package_file, {"PYTHONPATH": "/studio/py", "FRAMEFILL_MODELS": "/studio/models"})
    hpath = _entries(env["HOUDINI_PATH"])
    assert hpath[0] == PACKAGE.resolve() and env["HOUDINI_PATH"].endswith("&")
    for convention in ("toolbar/framefill.shelf", "MainMenuCommon.xml", "python3.11libs/framefill_houdini/shelf.py"):
        assert (hpath[0] / convention).is_file(), convention
    pythonpath = _entries(env["PYTHONPATH"])
    assert pythonpath[-1] == Path("/studio/py")  # prepended, the studio's own path kept
    assert (pythonpath[0] / "framefill_houdini" / "pdg_task.py").is_file()
    assert (pythonpath[1] / "framefill_host" / "runner.py").is_file()
    # A studio's model cache survives; an unset FRAMEFILL_PYTHON stays "$FRAMEFILL_PYTHON", which means unset.
    assert env["FRAMEFILL_MODELS"] == "/studio/models" and env["FRAMEFILL_PYTHON"] == "$FRAMEFILL_PYTHON"
    sys.path.insert(0, str(pythonpath[0]))
    try:
        from framefill_houdini.paths import clean_env
    finally:
        sys.path.pop(0)
    assert "FRAMEFILL_PYTHON" not in clean_env(env) and clean_env(env)["FRAMEFILL_MODELS"] == "/studio/models"
    # A Python with that PYTHONPATH (and a stand-in hou) imports the shelf module and the TOP task.
    probe = subprocess.run(
        [sys.executable, "-I", "-c",
         "import sys, os; sys.path[:0] = [p for p in os.environ['PYTHONPATH'].split(os.pathsep)] + [sys.argv[1]]\n"
         "import fake_hou; sys.modules['hou'] = fake_hou.make_fake_hou()\n"
         "import framefill_houdini.shelf, framefill_houdini.pdg_task; print('ok')", str(HERE)],
        env={"PYTHONPATH": env["PYTHONPATH"]}, capture_output=True, text=True, timeout=60, check=False)
    assert probe.returncode == 0 and probe.stdout.strip() == "ok", probe.stderr


def test_a_copied_package_needs_its_one_edit(tmp_path):
    # Copied but not edited: $HOUDINI_PACKAGE_PATH is the packages folder, which holds no shelf.
    packages = tmp_path / "packages"
    packages.mkdir()
    shutil.copy(PACKAGE / "framefill.json", packages / "framefill.json")
    env = resolve(packages / "framefill.json", {})
    assert _entries(env["HOUDINI_PATH"])[0] == packages
    assert not (packages / "toolbar" / "framefill.shelf").exists()
