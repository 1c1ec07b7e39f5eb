"""Reading ahead: while a frame is filled, the next render the plan needs decodes on the reader thread.
Every render is decoded once, the bytes are those of a fill that reads in turn, and a decode error
still stops the fill at the frame that needs the broken render."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from framefill.errors import ExrError
from framefill.models.interp import DisFlowInterpolator
from framefill.pipeline import fill as fill_module
from framefill.pipeline.fill import FillOptions, fill_sequence
from synthetic_shot import write_shot

KEYS = (1, 3, 5, 7, 9, 11, 13)
ALL = tuple(range(1, 14))


@pytest.fixture()
def decodes(monkeypatch):
    """(render, thread name) of every EXR the fill decodes."""
    seen: list[tuple[str, str]] = []
    real = fill_module.read_exr

    def spy(path, **kwargs):
        seen.append((Path(path).name, threading.current_thread().name))
        return real(path, **kwargs)

    monkeypatch.setattr(fill_module, "read_exr", spy)
    return seen


def _fill(keys: str, out: Path, **options) -> dict[str, bytes]:
    fill_sequence(keys, str(out / "shot.####.exr"), frames=ALL, interpolator=DisFlowInterpolator(),
                  options=FillOptions(model_id="flow", **options))
    return {p.name: p.read_bytes() for p in sorted(out.glob("shot.*.exr"))}


def test_each_render_decodes_once_the_next_on_the_reader_thread_with_the_same_bytes(tmp_path, decodes):
    keys = write_shot(tmp_path / "keys", KEYS, bg_speed=2, fg_speed=3)
    ahead = _fill(keys, tmp_path / "ahead")
    names = [name for name, _ in decodes]
    assert sorted(names) == sorted(f"shot.{k:04d}.exr" for k in KEYS)  # each render once
    # The fill of 2 reads 1 and 3 itself; from then on each next render was decoded ahead.
    assert [name for name, thread in decodes if thread.startswith("framefill-reader")] == [
        f"shot.{k:04d}.exr" for k in KEYS[2:]]
    decodes.clear()
    in_turn = _fill(keys, tmp_path / "in-turn", read_ahead=False)
    assert all(thread == threading.main_thread().name for _, thread in decodes)
    assert ahead == in_turn and len(ahead) == len(ALL)


def test_a_render_that_fails_to_decode_ahead_stops_the_fill_at_its_frame(tmp_path, decodes, monkeypatch):
    keys = write_shot(tmp_path / "keys", KEYS, bg_speed=2, fg_speed=3)
    real = fill_module.read_exr

    def broken_at_9(path, **kwargs):
        if Path(path).name == "shot.0009.exr":
            raise ExrError(f"cannot read {path}: a broken chunk")
        return real(path, **kwargs)

    monkeypatch.setattr(fill_module, "read_exr", broken_at_9)
    with pytest.raises(ExrError, match="shot.0009.exr: a broken chunk"):
        _fill(keys, tmp_path / "out")
    # Frames up to 7 are written; 8, the first that needs 9, is not.
    written = sorted(p.name for p in (tmp_path / "out").glob("shot.*.exr"))
    assert written == [f"shot.{f:04d}.exr" for f in range(1, 8)]
