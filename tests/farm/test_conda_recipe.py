"""The conda recipe (conda_recipes/framefill) stays in step with framefill.

It is not built here (no conda channel is reachable from this machine): these
checks keep its version, entry point and dependencies equal to pyproject.toml's,
so a studio that builds it gets the framefill of this checkout.
"""

from __future__ import annotations

import re
import tomllib

import yaml
from farm_helpers import REPO
from framefill._version import __version__

RECIPE = REPO / "conda_recipes" / "framefill"
# pyproject.toml's name -> the conda-forge package that provides it
CONDA_NAMES = {
    "numpy": "numpy", "openexr": "openexr-python", "opencv-python-headless": "py-opencv",
    "opencolorio": "opencolorio", "OpenImageIO": "py-openimageio", "click": "click", "rich": "rich",
    "pyyaml": "pyyaml", "filelock": "filelock", "torch": "pytorch", "openjd-model": "openjd-model",
    "openjd-cli": "openjd-cli", "openjd-sessions": "openjd-sessions",
}
_SPEC = re.compile(r"^([A-Za-z0-9_.\-]+)\s*(.*)$")


def _meta() -> dict:
    text = (RECIPE / "recipe" / "meta.yaml").read_text(encoding="utf-8")
    names = dict(re.findall(r'{%\s*set\s+(\w+)\s*=\s*"([^"]*)"\s*%}', text))
    rendered = re.sub(r"{{\s*(\w+)\s*}}", lambda m: names.get(m.group(1), m.group(1)), text)
    return yaml.safe_load(re.sub(r"{%.*?%}", "", rendered))


def _specs(lines: list[str]) -> dict[str, str]:
    return {m.group(1): m.group(2).replace(" ", "") for m in map(_SPEC.match, lines) if m}


def test_the_recipe_is_this_version_and_noarch():
    meta = _meta()
    assert meta["package"] == {"name": "framefill", "version": __version__}
    assert meta["source"]["url"].endswith(f"/framefill-{__version__}.tar.gz")
    assert meta["build"]["noarch"] == "python"
    platforms = yaml.safe_load((RECIPE / "deadline-cloud.yaml").read_text(encoding="utf-8"))["condaPlatforms"]
    assert [(p["platform"], p["defaultSubmit"], p["sourceArchiveFilename"]) for p in platforms] == [
        ("linux-64", True, f"framefill-{__version__}.tar.gz")]


def test_the_recipe_lists_every_dependency_of_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    meta = _meta()
    scripts = [f"{k} = {v}" for k, v in project["scripts"].items()]
    assert meta["build"]["entry_points"] == scripts
    run = _specs(meta["requirements"]["run"])
    assert run["python"] == project["requires-python"]
    wanted = _specs(project["dependencies"]) | _specs(project["optional-dependencies"]["farm"])
    wanted.pop("deadline")  # the Deadline client submits jobs; a worker does not need it
    assert {CONDA_NAMES[name]: spec for name, spec in wanted.items()} == {k: v for k, v in run.items() if k != "python"}
