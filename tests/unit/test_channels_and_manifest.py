"""Channel kinds by name, and the manifest under concurrent writers."""

import json
import multiprocessing

import pytest
from framefill.frames.channels import channel_kind, find_beauty
from framefill.pipeline.manifest import MANIFEST_NAME, Manifest, ManifestEntry


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("R", "color"), ("diffuse.G", "color"), ("A", "alpha"), ("rgba.A", "alpha"),
        ("depth.Z", "data"), ("Z", "data"), ("N.X", "data"), ("P.Y", "data"), ("motion.U", "data"),
        ("IndexOB.X", "id"), ("CryptoObject00.R", "id"), ("crypto_material.g", "id"), ("objectId.r", "id"),
        ("id", "id"), ("mask.id", "id"),
    ],
)
def test_channel_kind(name, kind):
    assert channel_kind(name) == kind


@pytest.mark.parametrize(
    ("names", "beauty"),
    [
        (["A", "B", "G", "R", "depth.Z"], ("R", "G", "B")),
        (["diffuse.R", "diffuse.G", "diffuse.B", "rgba.R", "rgba.G", "rgba.B"], ("rgba.R", "rgba.G", "rgba.B")),
        (["ViewLayer.Combined.R", "ViewLayer.Combined.G", "ViewLayer.Combined.B", "ViewLayer.Depth.Z"],
         ("ViewLayer.Combined.R", "ViewLayer.Combined.G", "ViewLayer.Combined.B")),
        (["depth.Z", "N.X"], None),
    ],
)
def test_find_beauty(names, beauty):
    assert find_beauty(names) == beauty


def _entry(status, **extra):
    return ManifestEntry(status=status, recipe={"kind": "copy"}, file_sha256="0" * 64, extra=extra)


def _writer(args):
    folder, frames = args
    manifest = Manifest(str(folder / "shot.####.exr"))
    for frame in frames:
        manifest.put(frame, _entry("filled", frame=frame))
        manifest.publish(model="test")


def test_concurrent_writers_lose_no_entry(tmp_path):
    # GIVEN four processes writing disjoint frames and publishing after each
    chunks = [(tmp_path, list(range(i, 80, 4))) for i in range(4)]
    with multiprocessing.get_context("fork").Pool(4) as pool:
        pool.map(_writer, chunks)
    # THEN the merged manifest holds every frame exactly once
    doc = json.loads((tmp_path / MANIFEST_NAME).read_text())
    frames = doc["sequences"]["shot.####.exr"]["frames"]
    assert sorted(int(f) for f in frames) == list(range(80))
    assert all(e["frame"] == int(f) for f, e in frames.items())


def test_damaged_merged_file_is_rebuilt_from_entries(tmp_path):
    manifest = Manifest(str(tmp_path / "a.####.exr"))
    manifest.put(7, _entry("copied"))
    (tmp_path / MANIFEST_NAME).write_text("{not json")
    manifest.publish()
    doc = json.loads((tmp_path / MANIFEST_NAME).read_text())
    assert doc["sequences"]["a.####.exr"]["frames"] == {"7": _entry("copied").to_json()}


def test_two_sequences_share_one_manifest(tmp_path):
    Manifest(str(tmp_path / "a.####.exr")).put(1, _entry("copied"))
    Manifest(str(tmp_path / "a.####.exr")).publish()
    Manifest(str(tmp_path / "b.####.exr")).put(1, _entry("filled"))
    Manifest(str(tmp_path / "b.####.exr")).publish()
    doc = json.loads((tmp_path / MANIFEST_NAME).read_text())
    assert set(doc["sequences"]) == {"a.####.exr", "b.####.exr"}
