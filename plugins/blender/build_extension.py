"""Build the framefill Blender extension zip with Blender's own extension tooling.

    python plugins/blender/build_extension.py [--out DIR] [--blender PATH] [--stage DIR]

1. Stage ``plugins/blender`` into ``build/blender_extension/framefill/``.
2. Copy the shared host client ``plugins/common/framefill_host`` into the stage
   as a sub-package (its imports of itself made relative, so it works inside
   ``bl_ext.<repo>.framefill`` without touching ``sys.path``). One source of
   truth: the client is never edited here.
3. Build and validate the zip with ``blender --command extension build`` and
   ``validate``: the given ``--blender``, or the same command handler run by the
   installed ``bpy`` package (Blender as a module).

Prints the zip's path. Exit codes: 0 built and valid, 1 the tool failed, 2 bad setup.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CLIENT = REPO / "plugins" / "common" / "framefill_host"
DEFAULT_STAGE = REPO / "build" / "blender_extension" / "framefill"
DEFAULT_OUT = REPO / "dist"
CLIENT_PACKAGE = "framefill_host"
# Left out of the stage (the manifest's [build] excludes them from the zip too).
_SKIP = ("__pycache__", "build_extension.py")
_ABSOLUTE_IMPORT = re.compile(r"^(?P<indent>[ \t]*)from framefill_host(?P<sub>(\.\w+)*) import ", re.MULTILINE)
_BARE_IMPORT = re.compile(r"^[ \t]*import framefill_host\b", re.MULTILINE)


class BuildError(Exception):
    """The extension cannot be built; the message says why."""


def relative_imports(source: str, *, name: str = "module") -> str:
    """``from framefill_host.x import y`` -> ``from .x import y`` (the client inside another package).

    Raises:
        BuildError: a bare ``import framefill_host`` that cannot be made relative.
    """
    if _BARE_IMPORT.search(source):
        raise BuildError(f"{name}: `import framefill_host` cannot be vendored; use `from framefill_host... import`")

    def repl(match: re.Match[str]) -> str:
        sub = match.group("sub")
        return f"{match.group('indent')}from .{sub[1:] if sub else ''} import "

    return _ABSOLUTE_IMPORT.sub(repl, source)


def vendor_client(src: Path, dst: Path) -> list[Path]:
    """Copy the client's modules into ``dst`` with relative self-imports; returns the files written."""
    if not (src / "__init__.py").is_file():
        raise BuildError(f"the shared host client is missing: {src}/__init__.py")
    dst.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(src.glob("*.py")):
        out = dst / path.name
        out.write_text(relative_imports(path.read_text(encoding="utf-8"), name=str(path)), encoding="utf-8")
        written.append(out)
    return written


def stage(stage_dir: Path = DEFAULT_STAGE) -> Path:
    """Fill ``stage_dir`` with the extension's sources and the vendored client; returns it."""
    if stage_dir.exists():
        shutil.rmtree(stage_dir)
    stage_dir.mkdir(parents=True)
    for path in sorted(HERE.iterdir()):
        if path.name in _SKIP or path.name.startswith(".") or path.is_dir():
            continue
        shutil.copy2(path, stage_dir / path.name)
    vendor_client(CLIENT, stage_dir / CLIENT_PACKAGE)
    return stage_dir


# `blender --command extension ARGS` without a Blender binary: the same handler, run by the bpy module.
# It is bl_pkg's cli_extension_handler, which also checks tags against Blender's own list (running
# bl_pkg/cli/blender_ext.py directly skips that check).
_BPY_COMMAND = (
    "import sys, bpy\n"
    "from bl_pkg import bl_extension_cli\n"
    "sys.exit(bl_extension_cli.cli_extension_handler(sys.argv[1:]))\n"
)


def tool_command(blender: str | None) -> list[str]:
    """How to run ``blender --command extension``: with a Blender binary, or through the bpy module.

    Raises:
        BuildError: no Blender binary given and no bpy package here.
    """
    if blender:
        return [blender, "--factory-startup", "--command", "extension"]
    if importlib.util.find_spec("bpy") is None:
        raise BuildError("no bpy package here: pip install bpy (Blender as a module), or pass --blender PATH")
    return [sys.executable, "-c", _BPY_COMMAND]


def build(*, out_dir: Path = DEFAULT_OUT, stage_dir: Path = DEFAULT_STAGE, blender: str | None = None) -> Path:
    """Stage, build and validate the extension; returns the zip.

    Raises:
        BuildError: the tool failed (its output is in the message).
    """
    staged = stage(stage_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = (staged / "blender_manifest.toml").read_text(encoding="utf-8")
    ext_id = re.search(r'^id\s*=\s*"([^"]+)"', manifest, re.MULTILINE)
    version = re.search(r'^version\s*=\s*"([^"]+)"', manifest, re.MULTILINE)
    if not ext_id or not version:
        raise BuildError(f"{staged / 'blender_manifest.toml'} has no id or version")
    zip_path = out_dir / f"{ext_id.group(1)}-{version.group(1)}.zip"
    tool = tool_command(blender)
    for argv in ([*tool, "build", "--source-dir", str(staged), "--output-filepath", str(zip_path)],
                 [*tool, "validate", str(zip_path)]):
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0 or "FATAL_ERROR" in done.stdout:
            raise BuildError(f"{' '.join(argv[-3:])} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return zip_path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"folder for the zip (default {DEFAULT_OUT})")
    ap.add_argument("--stage", type=Path, default=DEFAULT_STAGE, help="staging folder (emptied first)")
    ap.add_argument("--blender", help="a Blender executable: build with `blender --command extension build`")
    args = ap.parse_args(argv)
    try:
        path = build(out_dir=args.out, stage_dir=args.stage, blender=args.blender)
    except BuildError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1 if "failed" in str(err) else 2
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
