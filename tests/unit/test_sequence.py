"""Frame ranges, patterns, discovery on disk and missing frames."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
from framefill.errors import SequenceError
from framefill.frames import (
    FramePattern,
    Sequence,
    find_sequences,
    format_frame_range,
    missing_frames,
    parse_frame_range,
    resolve_frames,
)
from framefill.frames.sequence import MAX_FRAMES

# ---------------------------------------------------------------------------
# parse_frame_range
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("1001", (1001,), id="single"),
        pytest.param("1001-1005", (1001, 1002, 1003, 1004, 1005), id="range"),
        pytest.param("1001-1010x3", (1001, 1004, 1007, 1010), id="nuke-step"),
        pytest.param("1001-1010X3", (1001, 1004, 1007, 1010), id="nuke-step-upper"),
        pytest.param("1001-1011:3", (1001, 1004, 1007, 1010), id="openjd-step-end-not-hit"),
        pytest.param("1,3,5-9,20-30x5", (1, 3, 5, 6, 7, 8, 9, 20, 25, 30), id="mixed-list"),
        pytest.param(" 1 , 3 ,5 - 7 ", (1, 3, 5, 6, 7), id="spaces"),
        pytest.param("-10--5", (-10, -9, -8, -7, -6, -5), id="negative-range"),
        pytest.param("-3-3", (-3, -2, -1, 0, 1, 2, 3), id="negative-to-positive"),
        pytest.param("-5", (-5,), id="negative-single"),
        pytest.param("0", (0,), id="zero"),
        pytest.param("5,1,3,1,5", (1, 3, 5), id="unsorted-duplicates"),
        pytest.param("1-5,3-8", (1, 2, 3, 4, 5, 6, 7, 8), id="overlap"),
        pytest.param("10-1:-3", (1, 4, 7, 10), id="descending-negative-step"),
        pytest.param("-1--10x-4", (-9, -5, -1), id="descending-negatives"),
        pytest.param("7-7", (7,), id="one-frame-range"),
        pytest.param("1-10:100", (1,), id="step-past-end"),
    ],
)
def test_parse_frame_range(text, expected):
    assert parse_frame_range(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
        pytest.param("abc", id="letters"),
        pytest.param("1-", id="open-end"),
        pytest.param("-", id="dash"),
        pytest.param("1,,2", id="empty-item"),
        pytest.param("1,2,", id="trailing-comma"),
        pytest.param("1-10x0", id="zero-step"),
        pytest.param("10-1", id="backwards-without-step"),
        pytest.param("1-10:-1", id="step-points-away"),
        pytest.param("1-10x2x3", id="two-steps"),
        pytest.param("1.5-3", id="float"),
        pytest.param("1-10 20-30", id="space-separated"),
    ],
)
def test_parse_frame_range_rejects_bad_text(text):
    with pytest.raises(SequenceError) as info:
        parse_frame_range(text)
    msg = info.value.msg
    assert "\n" not in msg
    assert repr(text) in msg or "empty" in msg


def test_parse_error_names_text_and_forms():
    with pytest.raises(SequenceError) as info:
        parse_frame_range("1001-11OO")
    assert "'1001-11OO'" in info.value.msg
    assert "A-BxN" in info.value.msg and "A-B:N" in info.value.msg


def test_parse_guards_absurd_sizes():
    with pytest.raises(SequenceError, match="more than"):
        parse_frame_range(f"1-{MAX_FRAMES + 1}")
    # the limit itself is accepted (counted without building the set first)
    assert len(parse_frame_range(f"1-{MAX_FRAMES}x1000")) == MAX_FRAMES // 1000


# ---------------------------------------------------------------------------
# format_frame_range
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frames", "openjd", "nuke"),
    [
        pytest.param((), "", "", id="empty"),
        pytest.param((5,), "5", "5", id="single"),
        pytest.param((1, 2), "1-2", "1-2", id="pair-prefers-one-piece"),
        pytest.param((1, 3), "1,3", "1,3", id="pair-with-gap"),
        pytest.param((1, 3, 5, 7), "1-7:2", "1-7x2", id="step"),
        pytest.param((1, 2, 3, 5), "1-3,5", "1-3,5", id="run-and-single"),
        pytest.param(tuple(range(1001, 1101)), "1001-1100", "1001-1100", id="shot"),
        pytest.param((-10, -9, -8, -7), "-10--7", "-10--7", id="negatives"),
        pytest.param((-3, -2, -1, 0, 1, 2, 3), "-3-3", "-3-3", id="across-zero"),
        pytest.param((1001, 1011, 1021, 1031, 1040), "1001-1031:10,1040", "1001-1031x10,1040", id="step-then-single"),
        pytest.param((1, 10, 100), "1,10,100", "1,10,100", id="no-progression"),
    ],
)
def test_format_frame_range(frames, openjd, nuke):
    assert format_frame_range(frames) == openjd
    assert format_frame_range(frames, style="nuke") == nuke
    assert parse_frame_range(openjd) == tuple(frames) if frames else openjd == ""
    if frames:
        assert parse_frame_range(nuke) == tuple(frames)


def test_format_accepts_any_iterable_and_duplicates():
    assert format_frame_range([3, 1, 2, 2, 3]) == "1-3"
    assert format_frame_range(iter({7, 9, 11})) == "7-11:2"


def test_format_rejects_unknown_style():
    with pytest.raises(SequenceError, match="style"):
        format_frame_range([1], style="houdini")  # type: ignore[arg-type]


def _shortest_length_brute_force(frames: list[int]) -> int:
    """Reference: quadratic DP over every run of the sorted frames with a constant step."""
    n = len(frames)
    inf = float("inf")
    best = [0.0] + [inf] * n
    for j in range(1, n + 1):
        for i in range(j):
            seg = frames[i:j]
            if len(seg) == 1:
                text = str(seg[0])
            else:
                steps = {b - a for a, b in zip(seg, seg[1:])}
                if len(steps) != 1:
                    continue
                step = steps.pop()
                text = f"{seg[0]}-{seg[-1]}" + ("" if step == 1 else f":{step}")
            best[j] = min(best[j], best[i] + len(text) + 1)
    return int(best[n]) - 1


def test_format_is_shortest_and_round_trips_random_sets():
    rng = random.Random(1234)
    for trial in range(300):
        lo = rng.randint(-50, 1000)
        kind = trial % 4
        if kind == 0:  # sparse random
            frames = rng.sample(range(lo, lo + 60), rng.randint(1, 25))
        elif kind == 1:  # dense with holes
            frames = [f for f in range(lo, lo + 80) if rng.random() > 0.15]
        elif kind == 2:  # mixed steps
            frames = []
            start = lo
            for _ in range(rng.randint(1, 5)):
                step = rng.choice([1, 2, 3, 5, 10])
                count = rng.randint(1, 8)
                frames += list(range(start, start + step * count, step))
                start = frames[-1] + rng.randint(1, 12)
        else:  # negative-heavy
            frames = rng.sample(range(-40, 10), rng.randint(1, 20))
        frames = sorted(set(frames))
        text = format_frame_range(frames)
        assert parse_frame_range(text) == tuple(frames), (frames, text)
        assert len(text) == _shortest_length_brute_force(frames), (frames, text)
        nuke = format_frame_range(frames, style="nuke")
        assert parse_frame_range(nuke) == tuple(frames)
        assert len(nuke) == len(text)


def test_format_is_fast_for_a_feature_film():
    rng = random.Random(7)
    film = set(range(1, 170_001))
    film -= set(rng.sample(range(1, 170_001), 6_000))  # scattered missing frames
    film |= set(range(200_000, 260_000, 2))  # a long stepped stretch
    start = time.perf_counter()
    text = format_frame_range(film)
    elapsed = time.perf_counter() - start
    assert parse_frame_range(text) == tuple(sorted(film))
    assert "200000-259998:2" in text
    assert elapsed < 1.0, f"format_frame_range took {elapsed:.2f} s"


# ---------------------------------------------------------------------------
# FramePattern
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "prefix", "padding", "suffix"),
    [
        pytest.param("shot/beauty.####.exr", "shot/beauty.", 4, ".exr", id="hashes"),
        pytest.param("shot/beauty.#.exr", "shot/beauty.", 1, ".exr", id="one-hash"),
        pytest.param("beauty.%04d.exr", "beauty.", 4, ".exr", id="printf-padded"),
        pytest.param("beauty.%d.exr", "beauty.", 1, ".exr", id="printf-plain"),
        pytest.param("beauty.%06d.exr", "beauty.", 6, ".exr", id="printf-6"),
        pytest.param("beauty.$F4.exr", "beauty.", 4, ".exr", id="houdini-padded"),
        pytest.param("beauty.$F.exr", "beauty.", 1, ".exr", id="houdini-plain"),
        pytest.param("beauty.@@@@.exr", "beauty.", 4, ".exr", id="at-signs"),
        pytest.param("/abs/100%%/b_####.tif", "/abs/100%%/b_", 4, ".tif", id="escaped-percent"),
        pytest.param("####.exr", "", 4, ".exr", id="bare-number"),
    ],
)
def test_pattern_parse(text, prefix, padding, suffix):
    pattern = FramePattern.parse(text)
    assert (pattern.prefix, pattern.padding, pattern.suffix) == (prefix, padding, suffix)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("shot_####/beauty.####.exr", id="two-hash-tokens"),
        pytest.param("beauty.%04d.$F4.exr", id="mixed-tokens"),
    ],
)
def test_pattern_parse_needs_exactly_one_token(text):
    with pytest.raises(SequenceError) as info:
        FramePattern.parse(text)
    assert repr(text) in info.value.msg
    assert "####" in info.value.msg


@pytest.mark.parametrize(
    ("padding", "frame", "expected"),
    [
        pytest.param(4, 1001, "s.1001.exr", id="plain"),
        pytest.param(4, 7, "s.0007.exr", id="padded"),
        pytest.param(4, 12345, "s.12345.exr", id="wider-than-padding"),
        pytest.param(4, -1, "s.-001.exr", id="negative-printf"),
        pytest.param(4, -1234, "s.-1234.exr", id="negative-wide"),
        pytest.param(1, 0, "s.0.exr", id="zero-unpadded"),
        pytest.param(1, -5, "s.-5.exr", id="negative-unpadded"),
    ],
)
def test_pattern_path_uses_printf_semantics(padding, frame, expected):
    pattern = FramePattern("s.", padding, ".exr")
    assert pattern.path(frame) == expected
    assert pattern.path(frame) == ("s.%0*d.exr" % (padding, frame))
    assert pattern.frame_of(expected) == frame


def test_pattern_forms_round_trip():
    pattern = FramePattern.parse("shots/a/beauty.####.exr")
    assert pattern.as_hashes() == "shots/a/beauty.####.exr"
    assert pattern.as_printf() == "shots/a/beauty.%04d.exr"
    assert pattern.as_houdini() == "shots/a/beauty.$F4.exr"
    assert str(pattern) == pattern.as_hashes()
    for form in (pattern.as_hashes(), pattern.as_printf(), pattern.as_houdini()):
        assert FramePattern.parse(form) == pattern
    plain = FramePattern.parse("x.%d.png")
    assert (plain.as_printf(), plain.as_houdini(), plain.as_hashes()) == ("x.%d.png", "x.$F.png", "x.#.png")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("beauty.1001.exr", 1001, id="match"),
        pytest.param("beauty.0001.exr", 1, id="padded"),
        pytest.param("beauty.10000.exr", 10000, id="wider"),
        pytest.param("beauty.-001.exr", -1, id="negative"),
        pytest.param("beauty.001.exr", None, id="too-short"),
        pytest.param("beauty.00001.exr", None, id="extra-zero"),
        pytest.param("beauty.-0001.exr", None, id="negative-too-wide"),
        pytest.param("beauty.1001.exr.bak", None, id="other-suffix"),
        pytest.param("other.1001.exr", None, id="other-prefix"),
        pytest.param("beauty.10a1.exr", None, id="not-digits"),
        pytest.param("beauty..exr", None, id="no-digits"),
        pytest.param("shots/a/beauty.1001.exr", 1001, id="same-folder-path"),
        pytest.param("shots/b/beauty.1001.exr", None, id="other-folder-path"),
    ],
)
def test_frame_of(name, expected):
    assert FramePattern.parse("shots/a/beauty.####.exr").frame_of(name) == expected


@pytest.mark.parametrize(
    ("file", "expected"),
    [
        pytest.param("shot.1001.exr", "shot.####.exr", id="dot"),
        pytest.param("shot_0042.png", "shot_####.png", id="underscore"),
        pytest.param("s_v002.0101.exr", "s_v002.####.exr", id="last-digits-win"),
        pytest.param("shot.-001.exr", "shot.####.exr", id="negative"),
        pytest.param("shot-1001.exr", "shot-####.exr", id="dash-is-separator"),
        pytest.param("plate1001", "plate####", id="no-extension"),
        pytest.param("frame.12.tar.gz", "frame.##.tar.gz", id="double-extension"),
        pytest.param("dir/sub/7.tif", "dir/sub/#.tif", id="only-digits"),
    ],
)
def test_pattern_from_file(file, expected):
    assert str(FramePattern.from_file(file)) == expected


def test_pattern_from_file_without_digits():
    with pytest.raises(SequenceError, match="frame number"):
        FramePattern.from_file("shot/final.exr")


# ---------------------------------------------------------------------------
# Discovery on disk
# ---------------------------------------------------------------------------


def _touch(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"x")


def test_missing_frames_detected_on_disk(tmp_path):
    # GIVEN frames 1001-1010 minus 1004 and 1007
    present = [f for f in range(1001, 1011) if f not in (1004, 1007)]
    _touch(tmp_path / "shot", [f"beauty.{f:04d}.exr" for f in present])
    pattern = FramePattern.parse(str(tmp_path / "shot" / "beauty.####.exr"))
    # WHEN scanning
    found = pattern.scan()
    # THEN the gaps are exactly the two removed frames
    assert tuple(found) == tuple(present)
    assert found[1001] == tmp_path / "shot" / "beauty.1001.exr"
    seq = Sequence(pattern, tuple(found))
    assert (seq.first, seq.last) == (1001, 1010)
    assert seq.missing == (1004, 1007)
    assert missing_frames(found, range(1001, 1011)) == (1004, 1007)
    assert missing_frames(found, parse_frame_range("1000-1012")) == (1000, 1004, 1007, 1011, 1012)


def test_scan_ignores_temps_bad_padding_and_folders(tmp_path):
    _touch(
        tmp_path,
        [
            "beauty.1001.exr",
            "beauty.0002.exr",
            "beauty.12345.exr",
            "beauty.-001.exr",
            "beauty.002.exr",  # too short for padding 4
            "beauty.01001.exr",  # needless extra zero
            ".beauty.1003.exr.ff-tmp-123-0a1b2c3d.exr",  # an unfinished framefill write
            "beauty.1005.exr.ff-tmp-123-0a1b2c3d.exr",
            "beauty.1006.EXR",
            "notes.txt",
        ],
    )
    (tmp_path / "beauty.1004.exr").mkdir()
    found = FramePattern.parse(str(tmp_path / "beauty.####.exr")).scan()
    assert tuple(found) == (-1, 2, 1001, 12345)


def test_scan_missing_folder_is_empty(tmp_path):
    assert FramePattern.parse(str(tmp_path / "nope" / "a.####.exr")).scan() == {}


def test_scan_relative_pattern(tmp_path, monkeypatch):
    _touch(tmp_path, ["r.0001.exr", "r.0002.exr"])
    monkeypatch.chdir(tmp_path)
    found = FramePattern.parse("r.####.exr").scan()
    assert found == {1: Path("r.0001.exr"), 2: Path("r.0002.exr")}


def test_find_sequences(tmp_path):
    _touch(
        tmp_path,
        [f"beauty.{f:04d}.exr" for f in (1, 2, 3, 5)]
        + [f"depth_{f}.exr" for f in (8, 9, 10, 11)]  # unpadded
        + ["plate.0100.tif", "plate.100.tif"]  # two paddings of one name
        + ["readme.txt", ".hidden.0001.exr", ".beauty.0004.exr.ff-tmp-1-0123abcd.exr"],
    )
    seqs = find_sequences(tmp_path)
    got = {(str(s.pattern), s.frames) for s in seqs}
    assert got == {
        (str(tmp_path / "beauty.####.exr"), (1, 2, 3, 5)),
        (str(tmp_path / "depth_#.exr"), (8, 9, 10, 11)),
        (str(tmp_path / "plate.####.tif"), (100,)),
        (str(tmp_path / "plate.###.tif"), (100,)),
    }
    assert [str(s.pattern) for s in seqs] == sorted(str(s.pattern) for s in seqs)
    beauty = next(s for s in seqs if "beauty" in str(s.pattern))
    assert beauty.missing == (4,)
    assert Sequence.find_sequences(tmp_path) == seqs
    # every discovered pattern finds its own frames again
    for seq in seqs:
        assert tuple(seq.pattern.scan()) == seq.frames


def test_find_sequences_bad_folder(tmp_path):
    with pytest.raises(SequenceError, match="cannot list"):
        find_sequences(tmp_path / "missing")


def test_resolve_frames(tmp_path):
    _touch(tmp_path, ["a.0010.exr", "a.0012.exr"])
    pattern = str(tmp_path / "a.####.exr")
    assert resolve_frames(pattern, None) == (10, 12)
    assert resolve_frames(FramePattern.parse(pattern), "1-3") == (1, 2, 3)
    with pytest.raises(SequenceError) as info:
        resolve_frames(str(tmp_path / "b.####.exr"), None)
    assert "b.####.exr" in info.value.msg
