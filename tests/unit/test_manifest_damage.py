"""The manifest under damage and hand edits, and one entries folder per sequence, whatever its name or spelling.

Entries under ``.framefill/<sequence>/`` are the truth: a damaged one counts as
absent; a damaged merged file is rebuilt from them. Only a newer framefill's
merged file is refused, in one line.
"""

from __future__ import annotations

import json
import re

import pytest
from framefill.errors import InputError
from framefill.pipeline.manifest import (
    MANIFEST_NAME,
    Manifest,
    ManifestEntry,
    entries_folder_name,
    sequence_name,
)
from framefill.pipeline.qc_features import feature_sidecar_path


def _entry(status: str = "filled", **fields) -> ManifestEntry:
    return ManifestEntry(status=status, recipe={"kind": "copy"}, file_sha256="0" * 64, **fields)  # type: ignore[arg-type]


def _merged(folder) -> dict:
    return json.loads((folder / MANIFEST_NAME).read_text())


# ---------------------------------------------------------------------------------------
# Per-frame entries
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"[1, 2]", id="array"),
        pytest.param(b"{not json", id="bad-json"),
        pytest.param(b"\xff\xfe\x00garbage", id="not-utf8"),
        pytest.param(b"", id="empty"),
        pytest.param(b'"filled"', id="string"),
        pytest.param(b'{"status": "filled", "recipe": {}}', id="no-file-hash"),
        pytest.param(b'{"status": "rendered", "recipe": {}, "file_sha256": "x"}', id="unknown-status"),
        pytest.param(b'{"status": "filled", "recipe": [], "file_sha256": "x"}', id="recipe-not-object"),
        pytest.param(b'{"status": "held", "recipe": {}, "file_sha256": "x", "needs_render": "yes"}',
                     id="needs-render-string"),
        pytest.param(b'{"status": "filled", "recipe": {}, "file_sha256": "x", "cut_score": "high"}',
                     id="cut-score-string"),
        pytest.param(b'{"status": "upscaled", "recipe": {}, "file_sha256": "x", "tile_px": 1.5}', id="tile-float"),
    ],
)
def test_a_damaged_entry_counts_as_absent(tmp_path, content):
    manifest = Manifest(str(tmp_path / "shot.####.exr"))
    manifest.put(1, _entry())
    manifest.put(2, _entry())
    (manifest.entries_dir / "2.json").write_bytes(content)
    # THEN frame 2 is redone (absent), frame 1 is kept, and publishing works
    assert manifest.get(2) is None
    assert list(manifest.entries()) == [1]
    manifest.publish()
    assert list(_merged(tmp_path)["sequences"]["shot.####.exr"]["frames"]) == ["1"]


def test_damaged_qc_caches_are_dropped_not_the_entry(tmp_path):
    manifest = Manifest(str(tmp_path / "shot.####.exr"))
    doc = _entry().to_json()
    # a score that is not an object; a sidecar without a path; pixel counts that are not an object
    doc.update(qc=[1, 2], qc_features={"version": 2}, nonfinite=3)
    (manifest.entries_dir).mkdir(parents=True)
    (manifest.entries_dir / "3.json").write_text(json.dumps(doc))
    entry = manifest.get(3)
    assert entry is not None and entry.qc is None and entry.qc_features is None and entry.nonfinite is None
    doc["qc_features"] = {"path": 7}
    (manifest.entries_dir / "3.json").write_text(json.dumps(doc))
    assert manifest.get(3).qc_features is None


# ---------------------------------------------------------------------------------------
# The merged file
# ---------------------------------------------------------------------------------------

_OTHER = {"job": {"model": "rife-4"}, "frames": {"1": _entry("copied").to_json()}}


@pytest.mark.parametrize(
    ("merged", "kept_other"),
    [
        pytest.param("{not json", False, id="bad-json"),
        pytest.param("[1, 2, 3]", False, id="array"),
        pytest.param('"manifest"', False, id="string"),
        pytest.param(json.dumps({"version": "2", "sequences": {"other.####.exr": _OTHER}}), True,
                     id="version-string"),
        pytest.param(json.dumps({"version": 1.5, "sequences": {"other.####.exr": _OTHER}}), True, id="version-float"),
        pytest.param(json.dumps({"version": True, "sequences": {"other.####.exr": _OTHER}}), True, id="version-bool"),
        pytest.param(json.dumps({"version": 1, "sequences": []}), False, id="sequences-array"),
        pytest.param(json.dumps({"version": 1, "sequences": "x"}), False, id="sequences-string"),
        pytest.param(json.dumps({"version": 1, "sequences": {"shot.####.exr": [1], "other.####.exr": _OTHER}}), True,
                     id="own-sequence-not-object"),
        pytest.param(json.dumps({"version": 1, "sequences": {"shot.####.exr": {"job": [1], "frames": []},
                                                             "other.####.exr": _OTHER}}), True,
                     id="job-and-frames-not-objects"),
        pytest.param(json.dumps({"version": 1, "sequences": {
            "shot.####.exr": {"frames": {"1": [1, 2]}}, "other.####.exr": _OTHER}}), True, id="own-frame-array"),
        pytest.param(json.dumps({"version": 1, "sequences": {"bad.####.exr": 7, "other.####.exr": _OTHER}}), True,
                     id="other-sequence-not-object"),
        pytest.param("", False, id="empty-file"),
        pytest.param("{}", False, id="empty-object"),
    ],
)
def test_a_damaged_merged_file_is_rebuilt_from_the_entries(tmp_path, merged, kept_other):
    manifest = Manifest(str(tmp_path / "shot.####.exr"))
    manifest.put(7, _entry("copied"))
    (tmp_path / MANIFEST_NAME).write_text(merged)
    # job() reads around the damage; publish() rebuilds this sequence and keeps the others' sound sections
    assert manifest.job() in ({}, {"model": "rife-4"})
    manifest.publish(model="flow")
    doc = _merged(tmp_path)
    assert doc["version"] == 1
    assert doc["sequences"]["shot.####.exr"] == {"job": {"model": "flow"}, "frames": {"7": _entry("copied").to_json()}}
    assert ("other.####.exr" in doc["sequences"]) == kept_other
    if kept_other:
        assert doc["sequences"]["other.####.exr"] == _OTHER
    assert "bad.####.exr" not in doc["sequences"]
    assert manifest.job() == {"model": "flow"}


def test_a_damaged_frame_of_another_sequence_is_left_out_not_the_sequence(tmp_path):
    other = {"job": {"model": "x"}, "frames": {"1": [1, 2], "2": _entry().to_json()}}
    (tmp_path / MANIFEST_NAME).write_text(json.dumps({"version": 1, "sequences": {"other.####.exr": other}}))
    manifest = Manifest(str(tmp_path / "shot.####.exr"))
    manifest.put(1, _entry())
    manifest.publish()
    assert _merged(tmp_path)["sequences"]["other.####.exr"] == {"job": {"model": "x"},
                                                               "frames": {"2": _entry().to_json()}}


@pytest.mark.parametrize("call", ["publish", "job"])
def test_a_newer_framefills_merged_file_is_refused_in_one_line(tmp_path, call):
    (tmp_path / MANIFEST_NAME).write_text(json.dumps({"version": 2, "sequences": {}}))
    manifest = Manifest(str(tmp_path / "shot.####.exr"))
    manifest.put(1, _entry())
    with pytest.raises(InputError, match="written by a newer framefill") as info:
        getattr(manifest, call)()
    assert "\n" not in info.value.msg and str(tmp_path / MANIFEST_NAME) in info.value.msg
    assert json.loads((tmp_path / MANIFEST_NAME).read_text())["version"] == 2  # left alone


def test_job_of_a_sequence_never_published(tmp_path):
    assert Manifest(str(tmp_path / "shot.####.exr")).job() == {}
    (tmp_path / MANIFEST_NAME).write_text(json.dumps({"version": 1, "sequences": {}}))
    assert Manifest(str(tmp_path / "shot.####.exr")).job() == {}


# ---------------------------------------------------------------------------------------
# One entries folder per sequence
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["shot.####.exr", "shot.%04d.exr", "shot.$F4.exr", "shot.@@@@.exr"])
def test_every_spelling_of_a_pattern_is_one_sequence(tmp_path, spelling):
    manifest = Manifest(str(tmp_path / spelling))
    # The folder framefill always used for a plain name (the golden outputs record it).
    assert manifest.entries_dir == tmp_path / ".framefill" / "shot._.exr"
    assert manifest.pattern == "shot.####.exr" == sequence_name(spelling)
    assert feature_sidecar_path(str(tmp_path / spelling), 5) == tmp_path / ".framefill/shot._.exr/features/5.exr"
    manifest.put(1, _entry())
    manifest.publish(model="flow")
    assert set(_merged(tmp_path)["sequences"]) == {"shot.####.exr"}
    assert Manifest(str(tmp_path / "shot.####.exr")).job() == {"model": "flow"}


def test_a_job_published_under_another_spelling_is_still_read(tmp_path):
    (tmp_path / MANIFEST_NAME).write_text(json.dumps({"version": 1, "sequences": {
        "shot.%04d.exr": {"job": {"input": "in/shot.%04d.exr"}, "frames": {}}}}))
    manifest = Manifest(str(tmp_path / "shot.%04d.exr"))
    assert manifest.job() == {"input": "in/shot.%04d.exr"}
    manifest.put(1, _entry())
    manifest.publish()  # moved under the one spelling, its job kept
    assert _merged(tmp_path)["sequences"]["shot.####.exr"]["job"] == {"input": "in/shot.%04d.exr"}
    assert "shot.%04d.exr" not in _merged(tmp_path)["sequences"]


@pytest.mark.parametrize(
    ("name", "folder"),
    [
        ("shot.####.exr", "shot._.exr"),
        ("a_b.####.exr", "a_b._.exr"),
        ("shot_v002.#.exr", "shot_v002._.exr"),
        ("plate-01.####.tif", "plate-01._.tif"),
    ],
)
def test_plain_names_keep_their_folder(name, folder):
    assert entries_folder_name(name) == folder


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("日本.####.exr", "中国.####.exr"),
        ("a b.####.exr", "a_b.####.exr"),
        ("a b.####.exr", "a+b.####.exr"),
        ("shot (1).####.exr", "shot_1_.####.exr"),
        ("café.####.exr", "cafe\u0301.####.exr"),  # composed and decomposed: two names on Linux
    ],
)
def test_names_the_mapping_would_blur_get_their_own_folder(tmp_path, a, b):
    fa, fb = entries_folder_name(a), entries_folder_name(b)
    assert fa != fb
    for name, folder in ((a, fa), (b, fb)):
        # A short hash of the exact name is added where the safe name loses something.
        blurred = re.search(r"[^A-Za-z0-9._#-]", name) is not None
        assert (re.fullmatch(r".+-[0-9a-f]{8}", folder) is not None) == blurred
        assert entries_folder_name(name.replace("####", "%04d")) == folder  # every spelling, one folder
    # Entries written for one never show up for the other.
    ma, mb = Manifest(str(tmp_path / a)), Manifest(str(tmp_path / b))
    ma.put(1, _entry("copied"))
    ma.publish()
    mb.put(1, _entry("filled"))
    mb.put(2, _entry("filled"))
    mb.publish()
    assert list(ma.entries()) == [1] and ma.entries()[1].status == "copied"
    assert list(mb.entries()) == [1, 2] and mb.entries()[1].status == "filled"
    assert ma.entries_dir != mb.entries_dir
    assert feature_sidecar_path(str(tmp_path / a), 1) != feature_sidecar_path(str(tmp_path / b), 1)
    doc = _merged(tmp_path)
    assert set(doc["sequences"][a]["frames"]) == {"1"} and set(doc["sequences"][b]["frames"]) == {"1", "2"}


def test_a_name_without_frame_token_still_has_a_folder(tmp_path):
    assert entries_folder_name("movie.mov") == "movie.mov"
    assert entries_folder_name("my movie.mov") != entries_folder_name("my_movie.mov")
    Manifest(str(tmp_path / "movie.mov")).put(1, _entry())
    assert list(Manifest(str(tmp_path / "movie.mov")).entries()) == [1]
