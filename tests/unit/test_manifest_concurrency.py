"""The merged manifest under concurrent farm chunks, and what one publish costs.

Each chunk merges only its own frames into ``framefill.manifest.json`` under a
portable lock (``filelock``): no entry of another chunk is reread, and no
entry is lost, however the writers interleave. A missing or damaged merged
file, and :meth:`Manifest.rebuild`, read every entry once.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from framefill.pipeline.manifest import MANIFEST_NAME, Manifest, ManifestEntry

WRITERS = 4
FRAMES_PER_WRITER = 25
JOIN_TIMEOUT_S = 600  # generous: a loaded 2-core machine


def _entry(frame: int, version: int = 1) -> ManifestEntry:
    return ManifestEntry(status="filled", recipe={"kind": "fill", "sources": [frame - 1, frame + 1]},
                         file_sha256=f"{frame:064x}", extra={"frame": frame, "version": version})


def _merged(folder: Path) -> dict:
    return json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))


def _frames_of(folder: Path, name: str = "shot.####.exr") -> dict:
    return _merged(folder)["sequences"][name]["frames"]


def _writer(folder: str, frames: list[int], chunk: int, start) -> None:
    manifest = Manifest(str(Path(folder) / "shot.####.exr"))
    start.wait(JOIN_TIMEOUT_S)
    for first in range(0, len(frames), chunk):
        for frame in frames[first:first + chunk]:
            manifest.put(frame, _entry(frame))
        if chunk == 1:
            manifest.publish(model="rife-4")  # the frames put since the last publish
        else:
            manifest.publish(frames=frames[first:first + chunk], model="rife-4")


def test_interleaved_writers_lose_no_entry(tmp_path):
    # GIVEN 4 processes writing interleaved frames (0, 4, 8... / 1, 5, 9...), two publishing after every
    # frame and two after every 3, all released at once
    ctx = multiprocessing.get_context("fork")
    start = ctx.Event()
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), list(range(w, WRITERS * FRAMES_PER_WRITER, WRITERS)),
                                                 1 if w % 2 == 0 else 3, start)) for w in range(WRITERS)]
    for proc in procs:
        proc.start()
    start.set()
    for proc in procs:
        proc.join(JOIN_TIMEOUT_S)
    assert [proc.exitcode for proc in procs] == [0] * WRITERS
    # THEN the merged file holds exactly the 100 frames, each with its own entry
    doc = _merged(tmp_path)
    assert doc["version"] == 1
    assert doc["sequences"]["shot.####.exr"]["job"] == {"model": "rife-4"}
    assert _frames_of(tmp_path) == {str(f): _entry(f).to_json() for f in range(WRITERS * FRAMES_PER_WRITER)}
    if os.name == "posix":  # filelock leaves the lock file on POSIX (Windows may remove it on release)
        assert (tmp_path / ".framefill" / "manifest.lock").is_file()


# ---------------------------------------------------------------------------------------
# What a publish reads
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def long_sequence_original(tmp_path_factory):
    """A sequence of 1000 entries, published whole (written once: each entry is fsynced)."""
    folder = tmp_path_factory.mktemp("long")
    manifest = Manifest(str(folder / "shot.####.exr"))
    for frame in range(1000):
        manifest.put(frame, _entry(frame))
    manifest.rebuild(model="rife-4")
    return folder


@pytest.fixture()
def long_sequence(long_sequence_original, tmp_path):
    """A copy of the 1000-entry sequence for one test."""
    shutil.copytree(long_sequence_original, tmp_path / "long")
    return tmp_path / "long"


@pytest.fixture()
def reads(monkeypatch):
    """The frames whose entry file is read, in order."""
    seen: list[int] = []
    original = Manifest.get

    def counting_get(self, frame):
        seen.append(frame)
        return original(self, frame)

    monkeypatch.setattr(Manifest, "get", counting_get)
    return seen


def test_publishing_three_frames_reads_only_those_three(long_sequence, reads):
    # GIVEN a chunk that rewrote frames 3, 500 and 999 of a 1000-frame sequence
    writer = Manifest(str(long_sequence / "shot.####.exr"))
    for frame in (999, 3, 500):
        writer.put(frame, _entry(frame, version=2))
    # WHEN it publishes (the frames it put) and another chunk names its frames
    writer.publish(model="rife-4")
    assert reads == [3, 500, 999]
    Manifest(str(long_sequence / "shot.####.exr")).publish(frames=[7, 8], device="cpu")
    assert reads == [3, 500, 999, 7, 8]
    # THEN the merged file is what a full rebuild gives, the other 997 entries untouched
    expected = {str(f): _entry(f, version=2 if f in (3, 500, 999) else 1).to_json() for f in range(1000)}
    assert _frames_of(long_sequence) == expected
    assert _merged(long_sequence)["sequences"]["shot.####.exr"]["job"] == {"model": "rife-4", "device": "cpu"}


def test_a_publish_without_frames_rereads_nothing(long_sequence, reads):
    before = _frames_of(long_sequence)
    Manifest(str(long_sequence / "shot.####.exr")).publish(mode="flow")
    assert reads == []
    assert _frames_of(long_sequence) == before
    assert _merged(long_sequence)["sequences"]["shot.####.exr"]["job"] == {"model": "rife-4", "mode": "flow"}


def test_update_reads_only_the_changed_frames(long_sequence, reads):
    manifest = Manifest(str(long_sequence / "shot.####.exr"))
    changed = manifest.update([42], lambda e: e.with_review("accept", by="ana", at="2026-01-01T00:00:00Z"))
    assert set(reads) == {42}
    assert _frames_of(long_sequence)["42"] == changed[42].to_json()
    assert _frames_of(long_sequence)["42"]["review"]["by"] == "ana"


def test_an_entry_gone_or_damaged_is_dropped_when_its_frame_is_published(long_sequence, reads):
    folder = long_sequence / ".framefill" / "shot._.exr"
    (folder / "10.json").unlink()
    (folder / "11.json").write_text("{not json", encoding="utf-8")
    Manifest(str(long_sequence / "shot.####.exr")).publish(frames=[10, 11, 12])
    assert reads == [10, 11, 12]
    assert set(_frames_of(long_sequence)) == {str(f) for f in range(1000)} - {"10", "11"}


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda doc: doc.unlink(), id="merged-file-missing"),
        pytest.param(lambda doc: doc.write_text("{not json", encoding="utf-8"), id="merged-file-not-json"),
        pytest.param(lambda doc: _edit(doc, lambda seq: seq["frames"].update({"5": {"status": "filled"}})),
                     id="a-frame-not-an-entry"),
        pytest.param(lambda doc: _edit(doc, lambda seq: seq["frames"].update({"05": seq["frames"]["5"]})),
                     id="a-frame-key-not-a-number"),
        pytest.param(lambda doc: _edit(doc, lambda seq: seq["frames"]["6"].update(qc=[1])), id="a-damaged-record"),
        pytest.param(lambda doc: _edit(doc, lambda seq: seq["frames"]["7"].update(tile_px=None)), id="a-null-field"),
        pytest.param(lambda doc: _edit(doc, lambda seq: seq.update(frames=[])), id="frames-not-an-object"),
        pytest.param(lambda doc: _edit(doc, lambda seq: seq.pop("frames")), id="frames-missing"),
    ],
)
def test_a_missing_or_damaged_merged_file_is_rebuilt_from_every_entry(long_sequence, reads, damage):
    damage(long_sequence / MANIFEST_NAME)
    Manifest(str(long_sequence / "shot.####.exr")).publish(frames=[1])
    assert sorted(reads) == list(range(1000))  # each entry once
    assert _frames_of(long_sequence) == {str(f): _entry(f).to_json() for f in range(1000)}


def _edit(path: Path, change) -> None:
    doc = json.loads(path.read_text(encoding="utf-8"))
    change(doc["sequences"]["shot.####.exr"])
    path.write_text(json.dumps(doc), encoding="utf-8")


def test_a_section_under_another_spelling_is_rebuilt(tmp_path, reads):
    (tmp_path / MANIFEST_NAME).write_text(json.dumps({"version": 1, "sequences": {
        "shot.%04d.exr": {"job": {"input": "in/shot.%04d.exr"}, "frames": {"1": _entry(1).to_json()}}}}))
    manifest = Manifest(str(tmp_path / "shot.%04d.exr"))
    manifest.put(1, _entry(1))
    manifest.put(2, _entry(2))
    Manifest(str(tmp_path / "shot.%04d.exr")).publish(frames=[2])
    assert sorted(reads) == [1, 2]  # every entry, not only frame 2's
    doc = _merged(tmp_path)
    assert doc["sequences"] == {"shot.####.exr": {"job": {"input": "in/shot.%04d.exr"},
                                                  "frames": {"1": _entry(1).to_json(), "2": _entry(2).to_json()}}}


def test_entries_a_killed_run_never_published_are_merged_by_the_rerun(tmp_path):
    # GIVEN a chunk killed after writing the entries of frames 5-7 but before publishing them
    Manifest(str(tmp_path / "shot.####.exr")).put(1, _entry(1))
    Manifest(str(tmp_path / "shot.####.exr")).publish(frames=[1])
    killed = Manifest(str(tmp_path / "shot.####.exr"))
    for frame in (5, 6, 7):
        killed.put(frame, _entry(frame))
    assert set(_frames_of(tmp_path)) == {"1"}
    # WHEN the rerun skips them as done and publishes its task's frames
    Manifest(str(tmp_path / "shot.####.exr")).publish(frames=range(5, 8))
    # THEN they are in the merged file
    assert set(_frames_of(tmp_path)) == {"1", "5", "6", "7"}


def test_rebuild_reads_every_entry(tmp_path, reads):
    writer = Manifest(str(tmp_path / "shot.####.exr"))
    writer.put(1, _entry(1))
    writer.publish()
    Manifest(str(tmp_path / "shot.####.exr")).put(2, _entry(2))  # put, never published
    reads.clear()
    Manifest(str(tmp_path / "shot.####.exr")).rebuild(model="flow")
    assert sorted(reads) == [1, 2]
    assert _frames_of(tmp_path) == {"1": _entry(1).to_json(), "2": _entry(2).to_json()}


def test_the_manifest_needs_no_fcntl(tmp_path):
    # Windows has no fcntl: the manifest must import and publish without it (filelock picks the lock).
    code = (
        "import json, sys, warnings\n"
        "sys.modules['fcntl'] = None\n"
        "warnings.simplefilter('ignore')\n"
        "from framefill.pipeline.manifest import Manifest, ManifestEntry\n"
        f"m = Manifest({str(tmp_path / 'shot.####.exr')!r})\n"
        "m.put(3, ManifestEntry('copied', {'kind': 'copy'}, 'ab'))\n"
        "m.publish(model='x')\n"
        f"print(json.dumps(json.load(open({str(tmp_path / MANIFEST_NAME)!r}))['sequences']))\n"
    )
    src = Path(__file__).resolve().parents[2] / "core"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"}, check=False)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"shot.####.exr": {"job": {"model": "x"}, "frames": {
        "3": {"status": "copied", "recipe": {"kind": "copy"}, "file_sha256": "ab"}}}}


_GOOD = {"status": "held", "recipe": {"sources": [1, 3]}, "file_sha256": "ab", "needs_render": True, "reason": "cut",
         "cut_score": 0.5, "cut": True, "tile_px": 256, "overlap_px": 16, "pixel_sha256": "cd",
         "qc": {"psnr": 30.0}, "nonfinite": {"1": {"R": 2}}, "qc_features": {"path": "f/1.exr", "version": 2},
         "review": {"decision": "accept", "by": "ana", "at": "2026-01-01", "file_sha256": "ab"}, "newer_field": [1]}


@pytest.mark.parametrize(
    "change",
    [
        {}, {"status": "rendered"}, {"recipe": []}, {"file_sha256": None}, {"needs_render": "yes"}, {"reason": 3},
        {"cut_score": True}, {"cut_score": 2}, {"cut": 1}, {"tile_px": 1.5}, {"overlap_px": None}, {"pixel_sha256": 7},
        {"qc": [1]}, {"qc": None}, {"nonfinite": 3}, {"qc_features": {"version": 2}}, {"qc_features": {"path": 7}},
        {"qc_features": "x"}, {"review": {"decision": "maybe", "by": "a", "at": "b", "file_sha256": "ab"}},
        {"review": None}, {"extra": {"a": 1}},
    ],
)
def test_the_merged_files_entry_check_agrees_with_reading_the_entry(change):
    # A merged frame counts as whole exactly when reading it as an entry and writing it back changes nothing.
    from framefill.pipeline.manifest import _is_stored_entry

    doc = {**_GOOD, **change}
    entry = ManifestEntry.from_json(doc)
    assert _is_stored_entry(doc) == (entry is not None and entry.to_json() == doc)


def test_an_incremental_publish_writes_the_bytes_a_rebuild_writes(long_sequence):
    manifest = Manifest(str(long_sequence / "shot.####.exr"))
    for frame in (0, 10, 999):
        manifest.put(frame, _entry(frame, version=3))
    (long_sequence / ".framefill" / "shot._.exr" / "20.json").unlink()
    manifest.publish(frames=[20], device="cpu")
    incremental = (long_sequence / MANIFEST_NAME).read_bytes()
    manifest.rebuild()
    assert (long_sequence / MANIFEST_NAME).read_bytes() == incremental
