"""The Blender extension in real bpy (PyPI bpy 5.0.1 is Blender): build, install, a generated scene.

Fixtures, in the order Blender needs them (building the scene resets Blender
to factory settings, which disables add-ons, so the scene comes first):

- ``extension_zip``: the zip built by ``plugins/blender/build_extension.py``
  with Blender's own extension tool;
- ``test_scene``: the small scene of ``blender_scene.py`` saved to a .blend, and its
  full render (every frame, plain Blender), the ground truth;
- ``extension``: the zip installed into a throw-away extensions repository
  and enabled, its preferences pointing at this Python (framefill is
  installed here), device CPU. Removed again at the end.
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
PLUGIN_DIR = REPO / "plugins" / "blender"

# Blender reads its user folders when bpy is first imported: keep them out of the home folder.
_USER_RESOURCES = None
if "bpy" not in sys.modules and "BLENDER_USER_RESOURCES" not in os.environ:
    _USER_RESOURCES = tempfile.mkdtemp(prefix="ff-blender-user-")
    os.environ["BLENDER_USER_RESOURCES"] = _USER_RESOURCES

try:
    import bpy
except ImportError:  # pragma: no cover - the test environment has bpy
    bpy = None
    collect_ignore_glob = ["test_*.py"]

# blender_scene.py, blender_env.py and build_extension.py are not installed packages.
for _folder in (HERE, PLUGIN_DIR):
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))

from blender_env import EXTENSION_MODULE, REPO_MODULE, configure_preferences  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _user_resources_cleanup():
    yield
    if _USER_RESOURCES:
        shutil.rmtree(_USER_RESOURCES, ignore_errors=True)


@pytest.fixture(scope="session")
def extension_zip(tmp_path_factory) -> Path:
    import build_extension

    root = tmp_path_factory.mktemp("extension")
    return build_extension.build(out_dir=root / "dist", stage_dir=root / "stage" / "framefill")


@dataclass(frozen=True)
class TestScene:
    blend: Path
    truth: dict  # frame -> Path of the full render
    frames: tuple[int, ...]
    output_pattern: str  # the scene's output with Blender's naming, as a framefill pattern
    full_render_seconds: float


@pytest.fixture(scope="session")
def test_scene(tmp_path_factory) -> TestScene:
    from blender_scene import build_scene, render_all

    root = tmp_path_factory.mktemp("shot")
    blend = build_scene(root / "scene.blend")
    t0 = time.perf_counter()
    truth = render_all(root / "truth")
    seconds = time.perf_counter() - t0
    bpy.ops.wm.open_mainfile(filepath=str(blend))  # back to the saved state (render_all moved the frame)
    frames = tuple(sorted(truth))
    return TestScene(blend, truth, frames, str(root / "render" / "shot_####.exr"), seconds)


def _repo_index(name: str) -> int:
    for index, repo in enumerate(bpy.context.preferences.extensions.repos):
        if repo.module == name:
            return index
    return -1


@pytest.fixture(scope="session")
def extension(test_scene, extension_zip, tmp_path_factory):
    """The installed, enabled extension's root module."""
    repos = bpy.context.preferences.extensions.repos
    folder = tmp_path_factory.mktemp("extensions_repo")
    repo = repos.new(name=REPO_MODULE, module=REPO_MODULE, custom_directory=str(folder), source="USER")
    # `blender --command extension install-file -r REPO -e ZIP`: the handler Blender's command line runs.
    from bl_pkg import bl_extension_cli

    assert bl_extension_cli.cli_extension_handler(
        ["install-file", "-r", REPO_MODULE, "--enable", "--no-prefs", str(extension_zip)]) == 0
    assert EXTENSION_MODULE in bpy.context.preferences.addons
    configure_preferences()
    yield importlib.import_module(EXTENSION_MODULE)
    if EXTENSION_MODULE in bpy.context.preferences.addons:
        bpy.ops.preferences.addon_disable(module=EXTENSION_MODULE)
    index = _repo_index(REPO_MODULE)
    if index >= 0:
        bpy.ops.extensions.package_uninstall(repo_index=index, pkg_id="framefill")
        repos.remove(repo)


@pytest.fixture
def ext_module(extension):
    """Import a module of the installed extension (``jobs``, ``host_api``...)."""

    def _get(name: str):
        return importlib.import_module(f"{EXTENSION_MODULE}.{name}")

    return _get
