r"""Windows spellings of patterns on any system: ``C:\shots\a.####.exr``, ``C:/shots/a.####.exr``, ``\\srv\share\...``.

A Linux submitter writes bundles for Windows workers and reads their manifests,
so the folder/name split, the frame token and the manifest's sequence folder
must come out the same on Linux as on Windows. Nothing here touches a disk.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from framefill.errors import InputError, SequenceError
from framefill.farm.bundle import split_pattern
from framefill.frames.sequence import FramePattern, is_windows_spelling, sequence_pattern_of, split_folder_name
from framefill.pipeline.manifest import Manifest, entries_folder_name

BACKSLASH = "C:\\shots\\a.####.exr"
FORWARD = "C:/shots/a.####.exr"
UNC = "\\\\server\\share\\shots\\a.####.exr"


@pytest.mark.parametrize(
    ("text", "folder", "name"),
    [
        pytest.param(BACKSLASH, "C:\\shots", "a.####.exr", id="drive-backslash"),
        pytest.param(FORWARD, "C:/shots", "a.####.exr", id="drive-forward"),
        pytest.param("c:\\shots/mixed\\a.####.exr", "c:\\shots/mixed", "a.####.exr", id="drive-mixed"),
        pytest.param(UNC, "\\\\server\\share\\shots", "a.####.exr", id="unc"),
        pytest.param("\\\\server\\share\\a.####.exr", "\\\\server\\share\\", "a.####.exr", id="unc-share-root"),
        pytest.param("C:\\a.####.exr", "C:\\", "a.####.exr", id="drive-root"),
        pytest.param("shots/a.####.exr", "shots", "a.####.exr", id="posix-relative"),
        pytest.param("/mnt/shots/a.####.exr", "/mnt/shots", "a.####.exr", id="posix-absolute"),
    ],
)
def test_split_folder_name(text, folder, name):
    assert split_folder_name(text) == (folder, name)


@pytest.mark.parametrize(
    ("text", "windows"),
    [(BACKSLASH, True), (FORWARD, True), (UNC, True), ("C:a.exr", True), ("shots\\a.exr", False),
     ("/mnt/a.exr", False), ("//server/share/a.exr", False), ("a.exr", False)],
)
def test_is_windows_spelling(text, windows):
    assert is_windows_spelling(text) is windows


@pytest.mark.parametrize(
    ("text", "prefix", "folder", "name_prefix", "frame_7"),
    [
        pytest.param(BACKSLASH, "C:\\shots\\a.", "C:\\shots", "a.", "C:\\shots\\a.0007.exr", id="drive-backslash"),
        pytest.param(FORWARD, "C:/shots/a.", "C:/shots", "a.", "C:/shots/a.0007.exr", id="drive-forward"),
        pytest.param(UNC, "\\\\server\\share\\shots\\a.", "\\\\server\\share\\shots", "a.",
                     "\\\\server\\share\\shots\\a.0007.exr", id="unc"),
        pytest.param("C:\\shots\\a.%04d.exr", "C:\\shots\\a.", "C:\\shots", "a.", "C:\\shots\\a.0007.exr",
                     id="printf"),
        pytest.param("\\\\srv\\s\\v.1\\b_$F4.exr", "\\\\srv\\s\\v.1\\b_", "\\\\srv\\s\\v.1", "b_",
                     "\\\\srv\\s\\v.1\\b_0007.exr", id="houdini-dotted-folder"),
    ],
)
def test_a_windows_pattern_parses_with_its_folder_apart(text, prefix, folder, name_prefix, frame_7):
    pattern = FramePattern.parse(text)
    assert (pattern.prefix, pattern.padding, pattern.suffix, pattern.still) == (prefix, 4, ".exr", False)
    assert str(pattern.folder) == folder
    assert pattern.name_prefix == name_prefix
    assert pattern.path(7) == frame_7
    assert pattern.as_hashes() == prefix + "####.exr"


def test_frame_of_matches_a_windows_folder_whatever_its_slashes_and_case():
    pattern = FramePattern.parse(BACKSLASH)
    assert pattern.frame_of("C:\\shots\\a.0007.exr") == 7
    assert pattern.frame_of("C:/shots/a.0007.exr") == 7
    assert pattern.frame_of("c:\\SHOTS\\a.0007.exr") == 7  # Windows folders ignore case
    assert pattern.frame_of("a.0007.exr") == 7
    assert pattern.frame_of("C:\\other\\a.0007.exr") is None
    assert pattern.frame_of("C:\\shots\\a.007.exr") is None  # padding rule
    assert FramePattern.parse(UNC).frame_of("\\\\server\\share\\shots\\a.1001.exr") == 1001


def test_a_frame_token_in_a_folder_name_is_refused():
    for text in ("C:\\shots_####\\beauty.exr", "shot_$F4/beauty.exr", "\\\\srv\\s\\@@@\\b.exr"):
        with pytest.raises(SequenceError, match="in a folder name; put it in the file name") as info:
            FramePattern.parse(text)
        assert repr(text) in info.value.msg and "\n" not in info.value.msg


@pytest.mark.parametrize(
    ("path", "prefix", "padding"),
    [
        pytest.param("C:\\shots\\a.1001.exr", "C:\\shots\\a.", 4, id="drive"),
        pytest.param("C:/shots.v2/a_0001.exr", "C:/shots.v2/a_", 4, id="forward-dotted-folder"),
        pytest.param("\\\\server\\share\\v002\\a.01.exr", "\\\\server\\share\\v002\\a.", 2, id="unc-digits-in-folder"),
    ],
)
def test_a_frame_file_gives_its_windows_pattern(path, prefix, padding):
    for found in (FramePattern.from_file(path), sequence_pattern_of(path)):
        assert found is not None
        assert (found.prefix, found.padding, found.suffix) == (prefix, padding, ".exr")


def test_a_stray_warning_names_only_the_file():
    pattern = FramePattern.parse(BACKSLASH)
    assert pattern.stray_warning("C:\\shots\\a.01001.exr") == (
        "a.01001.exr has 5-digit padding; the pattern a.####.exr uses 4 and skips it: "
        "rename it to a.1001.exr or use a.#####.exr")


def test_a_windows_still_suggests_a_pattern_beside_it():
    still = FramePattern.parse("C:\\shots.v2\\plate")
    assert still.still and str(still.folder) == "C:\\shots.v2"
    with pytest.raises(SequenceError, match=r"give a pattern such as C:\\shots\.v2\\plate\.#### for a sequence"):
        still.path(2)


@pytest.mark.parametrize(
    ("text", "folder"),
    [(BACKSLASH, "C:\\shots"), (FORWARD, "C:/shots"), (UNC, "\\\\server\\share\\shots"),
     ("C:\\shots\\a.%04d.exr", "C:\\shots"), ("\\\\server\\share\\shots\\a.$F4.exr", "\\\\server\\share\\shots"),
     # the templates join {{Param.OutputDir}}/{{Param.OutputPattern}}: a mapped Windows folder, then a slash
     ("C:\\shots/a.####.exr", "C:\\shots"), ("\\\\server\\share\\shots/a.####.exr", "\\\\server\\share\\shots")],
)
def test_a_windows_manifest_keys_its_sequence_by_file_name(text, folder):
    manifest = Manifest(text)
    assert manifest.pattern == "a.####.exr"
    assert str(manifest.folder) == folder
    assert manifest.entries_dir == Path(folder) / ".framefill" / "a._.exr"
    assert manifest.path == Path(folder) / "framefill.manifest.json"
    assert entries_folder_name(split_folder_name(text)[1]) == "a._.exr"


@pytest.mark.parametrize(
    ("text", "folder"),
    [
        pytest.param(BACKSLASH, "C:\\shots", id="drive-backslash"),
        pytest.param(FORWARD, "C:/shots", id="drive-forward"),
        pytest.param(UNC, "\\\\server\\share\\shots", id="unc"),
        pytest.param("\\\\server\\share\\a.####.exr", "\\\\server\\share", id="unc-share-root"),
        pytest.param("C:\\a.####.exr", "C:\\", id="drive-root"),
        pytest.param("  C:\\shots\\a.####.exr ", "C:\\shots", id="spaces-around"),
    ],
)
def test_split_pattern_keeps_a_windows_folder_as_written(tmp_path, monkeypatch, text, folder):
    monkeypatch.chdir(tmp_path)  # never resolved against this folder
    assert split_pattern(text) == (folder, "a.####.exr")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("C:shots\\a.####.exr", "is a Windows path without a folder from the drive's root; give the full path"),
        ("C:\\shots\\", "needs a file name with #### for the frame number"),
    ],
)
def test_split_pattern_refuses_a_partial_windows_path(text, message):
    with pytest.raises(InputError, match=message) as info:
        split_pattern(text, what="--input")
    assert info.value.msg.startswith(f"--input {text!r}") and "\n" not in info.value.msg


def test_split_pattern_still_resolves_a_posix_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert split_pattern("shots/a.####.exr") == (str(tmp_path.resolve() / "shots"), "a.####.exr")


def test_a_bundle_for_windows_workers_keeps_every_path_as_written(tmp_path, monkeypatch):
    import yaml
    from framefill.farm.bundle import write_bundle
    from framefill.requests import BundleRequest

    monkeypatch.chdir(tmp_path)  # openjd would make a "relative" path absolute against this folder
    result = write_bundle(BundleRequest("sparse_pipeline", tmp_path / "job", input_pattern=BACKSLASH,
                                        output_pattern="\\\\srv\\share\\out\\b.####.exr", frames="1001-1010",
                                        keyframes="1001-1010:3", params={"Device": "cpu"}))
    values = {p["name"]: p["value"] for p in yaml.safe_load((result.folder / "parameter_values.yaml").read_text())[
        "parameterValues"]}
    assert (values["InputDir"], values["InputPattern"]) == ("C:\\shots", "a.####.exr")
    assert (values["OutputDir"], values["OutputPattern"]) == ("\\\\srv\\share\\out", "b.####.exr")
    assert values["ReportDir"] == "\\\\srv\\share\\out\\qc_report"
    refs = yaml.safe_load((result.folder / "asset_references.yaml").read_text())["assetReferences"]
    assert refs["inputs"]["directories"] == ["C:\\shots"]
    assert refs["outputs"]["directories"] == ["\\\\srv\\share\\out", "\\\\srv\\share\\out\\qc_report"]
