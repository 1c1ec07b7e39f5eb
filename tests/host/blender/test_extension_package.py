"""The extension as a package: Blender's tool builds and validates it; it registers and unregisters cleanly.

GIVEN plugins/blender and the shared client WHEN build_extension.py stages and builds them THEN
Blender's own `blender --command extension` handler (bl_pkg, run by bpy) builds a zip that validates, with
the client vendored unchanged but for its self-imports; installed into a repository and enabled
in real bpy, its operators, panels and properties exist, and disabling removes every one of them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import bpy
import build_extension
import pytest
from blender_env import EXTENSION_MODULE, configure_preferences

pytestmark = pytest.mark.blender

COMMON = build_extension.CLIENT
OPERATORS = ("render_sparse", "interpolate_sequence", "upscale_sequence", "submit_deadline", "submit_rerender",
             "check_setup", "open_qc_report")
PANELS = ("FRAMEFILL_PT_output", "FRAMEFILL_PT_sequences", "FRAMEFILL_PT_farm")
EXTENSION_FILES = {"blender_manifest.toml", "__init__.py", "host_api.py", "jobs.py", "naming.py", "operators.py",
                   "prefs.py", "props.py", "regions.py", "submit.py", "ui.py"}


def test_zip_builds_and_validates_with_blenders_tool(extension_zip: Path, tmp_path: Path) -> None:
    # GIVEN the zip build_extension.py made with `blender --command extension build`
    tool = build_extension.tool_command(None)
    # WHEN Blender's tool validates the zip and builds the stage again on its own
    validate = subprocess.run([*tool, "validate", str(extension_zip)], capture_output=True, text=True)
    rebuilt = tmp_path / "again.zip"
    stage = extension_zip.parents[1] / "stage" / "framefill"
    build = subprocess.run([*tool, "build", "--source-dir", str(stage), "--output-filepath", str(rebuilt)],
                           capture_output=True, text=True)
    # THEN both succeed and the zip holds exactly the extension and the vendored client
    assert validate.returncode == 0 and "Success" in validate.stdout, validate.stdout + validate.stderr
    assert build.returncode == 0 and "FATAL" not in build.stdout, build.stdout + build.stderr
    names = set(zipfile.ZipFile(extension_zip).namelist())
    client = {f"framefill_host/{p.name}" for p in COMMON.glob("*.py")}
    assert names == EXTENSION_FILES | client
    assert set(zipfile.ZipFile(rebuilt).namelist()) == names


def test_validation_is_blenders_own(extension_zip: Path, tmp_path: Path) -> None:
    # GIVEN the staged extension with a tag Blender does not know
    stage = extension_zip.parents[1] / "stage" / "framefill"
    bad = tmp_path / "framefill"
    shutil.copytree(stage, bad)
    manifest = bad / "blender_manifest.toml"
    manifest.write_text(manifest.read_text().replace('tags = ["Render", "Sequencer"]', 'tags = ["Render", "Bogus"]'))
    # WHEN Blender's command validates it THEN it is refused (the checks are Blender's, tags included)
    done = subprocess.run([*build_extension.tool_command(None), "validate", str(bad)], capture_output=True, text=True)
    assert done.returncode != 0 and 'invalid tag "Bogus"' in done.stdout


def test_vendored_client_is_the_shared_source_with_relative_self_imports(extension_zip: Path) -> None:
    archive = zipfile.ZipFile(extension_zip)
    for source in sorted(COMMON.glob("*.py")):
        vendored = archive.read(f"framefill_host/{source.name}").decode("utf-8")
        original = source.read_text(encoding="utf-8")
        assert vendored == build_extension.relative_imports(original)
        assert "from framefill_host" not in vendored and "import framefill_host" not in vendored
        # Only import lines change: the same number of lines, all others byte-identical.
        changed = [(a, b) for a, b in zip(original.splitlines(), vendored.splitlines()) if a != b]
        assert len(original.splitlines()) == len(vendored.splitlines())
        assert all(a.lstrip().startswith("from framefill_host") and b.lstrip().startswith("from .")
                   for a, b in changed)


def test_relative_imports_rewrites_only_self_imports() -> None:
    text = ("from framefill_host import HostError\nfrom framefill_host.events import A, B\n"
            "    from framefill_host.x.y import z\nfrom framefill_hostile import q\nimport os\n")
    assert build_extension.relative_imports(text) == (
        "from . import HostError\nfrom .events import A, B\n    from .x.y import z\n"
        "from framefill_hostile import q\nimport os\n")
    with pytest.raises(build_extension.BuildError, match="cannot be vendored"):
        build_extension.relative_imports("import framefill_host\n")


def _registered() -> dict[str, bool]:
    return {
        **{f"op:{name}": hasattr(bpy.ops.framefill, name) and _op_exists(name) for name in OPERATORS},
        **{f"panel:{name}": hasattr(bpy.types, name) for name in PANELS},
        "scene.framefill": "framefill" in bpy.types.Scene.bl_rna.properties,
        "wm.framefill": "framefill" in bpy.types.WindowManager.bl_rna.properties,
        "prefs": EXTENSION_MODULE in bpy.context.preferences.addons,
    }


def _op_exists(name: str) -> bool:
    try:
        getattr(bpy.ops.framefill, name).get_rna_type()
    except (KeyError, AttributeError):
        return False
    return True


def test_registers_and_unregisters_cleanly(extension) -> None:
    # GIVEN the installed, enabled extension
    assert all(_registered().values()), _registered()
    assert bpy.context.scene.framefill.every == 2
    # WHEN it is disabled THEN nothing of it is left registered
    assert bpy.ops.preferences.addon_disable(module=EXTENSION_MODULE) == {"FINISHED"}
    left = {k: v for k, v in _registered().items() if v}
    assert left == {}
    # WHEN enabled again (register after unregister) THEN everything is back, twice over
    for _ in range(2):
        assert bpy.ops.preferences.addon_enable(module=EXTENSION_MODULE) == {"FINISHED"}
        assert all(_registered().values()), _registered()
        assert bpy.ops.preferences.addon_disable(module=EXTENSION_MODULE) == {"FINISHED"}
        assert not any(_registered().values())
    assert bpy.ops.preferences.addon_enable(module=EXTENSION_MODULE) == {"FINISHED"}
    configure_preferences()


def test_check_setup_reports_the_framefill_version(extension) -> None:
    from framefill import __version__

    assert bpy.ops.framefill.check_setup() == {"FINISHED"}
    configure_preferences(python="/no/such/python3")
    try:
        with pytest.raises(RuntimeError, match="framefill preference points to /no/such/python3"):
            bpy.ops.framefill.check_setup()
    finally:
        configure_preferences()
    done = subprocess.run([sys.executable, "-m", "framefill", "--version"], capture_output=True, text=True)
    assert __version__ in done.stdout


@pytest.mark.parametrize("filepath, frame, expected_name", [
    pytest.param("//render/shot_####", 1001, "render/shot_####.exr", id="hashes"),
    pytest.param("//render/shot_", 7, "render/shot_####.exr", id="no-hashes-blender-adds-four"),
    pytest.param("//render/shot_##.exr", 7, "render/shot_##.exr", id="two-hashes-with-extension"),
    pytest.param("//render/v2/shot.######_beauty", 12, "render/v2/shot.######_beauty.exr", id="six-mid-name"),
])
def test_output_pattern_follows_blenders_naming(extension, ext_module, test_scene, filepath, frame,
                                                expected_name) -> None:
    # GIVEN an output path as an artist types it
    scene = bpy.context.scene
    saved = scene.render.filepath
    host_api = ext_module("host_api")
    naming = ext_module("naming")
    try:
        scene.render.filepath = filepath
        # WHEN the extension derives its pattern
        pattern = host_api.output_pattern(scene)
        # THEN it is absolute, beside the .blend, and names exactly Blender's file for any frame
        assert pattern == str(test_scene.blend.parent / expected_name)
        for f in (frame, 0, 99, 123456):
            assert naming.frame_file(pattern, f) == scene.render.frame_path(frame=f)
    finally:
        scene.render.filepath = saved


def test_output_that_is_not_exr_is_refused_with_a_fix(extension, ext_module) -> None:
    scene = bpy.context.scene
    image = scene.render.image_settings
    saved = (getattr(image, "media_type", None), image.file_format)
    host_api = ext_module("host_api")
    HostError = ext_module("framefill_host").HostError
    try:
        if saved[0] is not None:
            image.media_type = "IMAGE"
        image.file_format = "PNG"
        with pytest.raises(HostError, match="set Output Properties > Output > File Format to OpenEXR"):
            host_api.output_pattern(scene)
        # The operator turns it into a Blender error report (bpy.ops raises it as RuntimeError for scripts).
        with pytest.raises(RuntimeError, match="framefill fills EXR frames"):
            bpy.ops.framefill.render_sparse()
        assert not bpy.context.window_manager.framefill.running
    finally:
        if saved[0] is not None:
            image.media_type = saved[0]
        image.file_format = saved[1]


@pytest.mark.parametrize("frames, every", [
    pytest.param(range(1001, 1014), 2, id="odd-count"),
    pytest.param(range(1001, 1013), 2, id="even-count-last-added"),
    pytest.param(range(1, 101), 7, id="every-7"),
    pytest.param(range(5, 6), 3, id="one-frame"),
    pytest.param(range(-10, 11), 4, id="negative"),
    pytest.param(range(1, 9), 1, id="every-frame"),
])
def test_keyframes_agree_with_the_core_plan(extension, ext_module, frames, every) -> None:
    from framefill import api

    naming = ext_module("naming")
    assert naming.keyframes(list(frames), every) == api.plan_shot(list(frames), every=every)


def test_picked_file_becomes_a_pattern(extension, ext_module) -> None:
    naming = ext_module("naming")
    HostError = ext_module("framefill_host").HostError
    assert naming.pattern_from_file("/r/v003/shot_0042.exr") == "/r/v003/shot_####.exr"
    assert naming.pattern_from_file("/r/shot.%04d.exr") == "/r/shot.####.exr"
    assert naming.pattern_from_file("/r/shot.$F4.exr") == "/r/shot.####.exr"
    with pytest.raises(HostError, match="has no frame number"):
        naming.pattern_from_file("/r/shot.exr")


class _Layout:
    """Records what a panel draws and checks every property and operator it names exists."""

    def __init__(self, log: list) -> None:
        self.log = log
        self.use_property_split = self.use_property_decorate = self.active = False
        self.scale_y = 1.0

    def column(self, **_kw) -> "_Layout":
        return _Layout(self.log)

    row = box = column

    def prop(self, data, name: str, **_kw) -> None:
        assert name in data.bl_rna.properties, f"{type(data).__name__} has no property {name!r}"
        self.log.append(("prop", name))

    def operator(self, idname: str, **_kw):
        module, name = idname.split(".")
        assert _op_exists(name) and module == "framefill", idname
        self.log.append(("operator", idname))
        return type("OperatorProperties", (), {})()

    def label(self, *, text: str = "", **_kw) -> None:
        self.log.append(("label", text))

    def progress(self, *, factor: float, text: str = "", **_kw) -> None:
        self.log.append(("progress", round(factor, 3), text))


def test_panels_and_preferences_draw_real_properties(extension, ext_module) -> None:
    ui = ext_module("ui")
    import types

    context = bpy.context
    wm = context.window_manager
    scene = context.scene
    saved = scene.framefill.last_report
    try:
        scene.framefill.last_report = json.dumps({"frames_total": 13, "rendered": 7, "filled": 4, "rerendered": 2,
                                                  "wall_seconds": 30.0, "estimated_full_render_seconds": 10.0,
                                                  "unresolved_frames": [], "qc_report": "/r/.framefill/qc/report.html"})
        drawn = {}
        for panel in ui.CLASSES:
            log: list = []
            panel.draw(types.SimpleNamespace(layout=_Layout(log)), context)
            drawn[panel.__name__] = log
        out = drawn["FRAMEFILL_PT_output"]
        assert [n for k, n in out if k == "prop"] == ["every", "model", "qc_threshold", "rerender", "rerender_regions", "upscale",
                                                      "upscale_model", "upscale_scale"]
        assert ("operator", "framefill.render_sparse") in out and ("operator", "framefill.open_qc_report") in out
        assert ("label", "Last run: 13 frames: 7 rendered, 4 filled, 2 re-rendered") in out
        assert ("label", "30.0 s; full render ~10.0 s (3.00x)") in out
        assert ("operator", "framefill.interpolate_sequence") in drawn["FRAMEFILL_PT_sequences"]
        assert [n for k, n in drawn["FRAMEFILL_PT_farm"] if k == "operator"] == [
            "framefill.submit_deadline", "framefill.submit_rerender"]
        # While a job runs the panel shows its progress bar instead of the last report.
        wm.framefill.running, wm.framefill.progress, wm.framefill.status = True, 0.25, "[2/4] fill: 3/6"
        log = []
        ui.FRAMEFILL_PT_output.draw(types.SimpleNamespace(layout=_Layout(log)), context)
        assert ("progress", 0.25, "[2/4] fill: 3/6") in log and not any(k == "label" and "Last run" in n
                                                                           for k, n, *_ in log)
    finally:
        wm.framefill.running = False
        scene.framefill.last_report = saved
    prefs = context.preferences.addons[EXTENSION_MODULE].preferences
    log = []
    type(prefs).draw(types.SimpleNamespace(layout=_Layout(log), bl_rna=prefs.bl_rna), context)
    assert [n for k, n in log if k == "prop"] == ["python", "models_dir", "device"]
