"""Frames a pattern would skip without a word (other paddings), and telling a frame from a still."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from framefill.frames import FramePattern, sequence_pattern_of


def _touch(folder: Path, names: list[str]) -> None:
    for name in names:
        (folder / name).write_bytes(b"x")


def test_strays_lists_other_paddings_only(tmp_path):
    # GIVEN frames of shot.####.exr with a few files of other paddings beside them
    _touch(tmp_path, ["shot.1001.exr", "shot.1002.exr", "shot.10000.exr",  # 10000 needs 5 digits: a real frame
                      "shot.01003.exr", "shot.001.exr", "shot.-01.exr", "shot.0000001.exr",
                      "shot.1004.png", "other.01003.exr", "shot.v1.exr", ".shot.1005.exr.ff-tmp-1-0123abcd.exr"])
    (tmp_path / "shot.01006.exr").mkdir()  # a folder is not a frame
    pattern = FramePattern.parse(str(tmp_path / "shot.####.exr"))
    # THEN scan() skips them and strays() names them, sorted
    assert sorted(pattern.scan()) == [1001, 1002, 10000]
    assert [p.name for p in pattern.strays()] == ["shot.-01.exr", "shot.0000001.exr", "shot.001.exr", "shot.01003.exr"]
    assert all(p.parent == tmp_path for p in pattern.strays())


def test_stray_warning_says_both_fixes(tmp_path):
    pattern = FramePattern.parse(str(tmp_path / "shot.####.exr"))
    assert pattern.stray_warning(tmp_path / "shot.01001.exr") == (
        "shot.01001.exr has 5-digit padding; the pattern shot.####.exr uses 4 and skips it: "
        "rename it to shot.1001.exr or use shot.#####.exr"
    )
    assert pattern.stray_warning("shot.001.exr").endswith("rename it to shot.0001.exr or use shot.###.exr")


def test_strays_of_a_missing_folder_is_empty(tmp_path):
    assert FramePattern.parse(str(tmp_path / "nope" / "a.####.exr")).strays() == []


def test_strays_with_unpadded_pattern(tmp_path):
    # %d (padding 1) writes 7 as "7": "07" is a stray, "1001" is not
    _touch(tmp_path, ["f.7.exr", "f.07.exr", "f.1001.exr"])
    pattern = FramePattern.parse(str(tmp_path / "f.%d.exr"))
    assert [p.name for p in pattern.strays()] == ["f.07.exr"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("shot.1001.exr", "shot.####.exr", id="dot"),
        pytest.param("shot_1001.exr", "shot_####.exr", id="underscore"),
        pytest.param("shot-1001.exr", "shot-####.exr", id="dash"),
        pytest.param("shot 1001.exr", "shot ####.exr", id="space"),
        pytest.param("0001.png", "####.png", id="digits-only"),
        pytest.param("shot.-001.exr", "shot.####.exr", id="negative"),
        pytest.param("shot.1001_denoised.exr", "shot.####_denoised.exr", id="suffix-after-separator"),
        pytest.param("s_v002.0101.exr", "s_v002.####.exr", id="version-then-frame"),
        pytest.param("beauty.exr", None, id="no-digits"),
        pytest.param("Rec709.exr", None, id="digits-glued-to-letters"),
        pytest.param("GoldenGate.exr", None, id="no-number"),
        pytest.param("shot_v002.exr", None, id="version-number"),
        pytest.param("plate_2k.exr", None, id="digits-glued-to-suffix"),
        pytest.param("beauty0001.exr", None, id="blender-glued"),
    ],
)
def test_sequence_pattern_of_needs_a_separator(tmp_path, name, expected):
    got = sequence_pattern_of(tmp_path / name)
    if expected is None:
        assert got is None
    else:
        assert got is not None and str(got) == os.path.join(str(tmp_path), expected)


def test_from_file_still_guesses_loosely():
    # The explicit API keeps its old, loose rule: the caller says it is a frame.
    assert str(FramePattern.from_file("plate1001")) == "plate####"

