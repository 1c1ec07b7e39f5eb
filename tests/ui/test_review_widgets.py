"""The review widgets under Qt's offscreen platform: what they paint, pixel by pixel, and what keys do."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
from framefill.ops.errormaps import false_colour
from framefill.pipeline.manifest import Manifest
from framefill.review import display as dsp
from framefill.review.shot import load_shot
from review_shots import HEIGHT, RISK, STATUS, WIDTH

pytestmark = pytest.mark.usefixtures("qapp")
UNTONEMAPPED = dict(display="sRGB - Display", view="Un-tone-mapped")


def srgb8(linear: float) -> int:
    encoded = 12.92 * linear if linear <= 0.0031308 else 1.055 * linear ** (1 / 2.4) - 0.055
    return round(encoded * 255)


@pytest.fixture
def panel_of(wait_until):
    """A ReviewWidget on a shot, shown at 900x520 with the un-tone-mapped sRGB view; shut down afterwards."""
    from framefill.review.widgets import ReviewWidget

    made = []

    def make(shot, **options):
        panel = ReviewWidget(shot, look=dsp.default_look(**UNTONEMAPPED), user="tester", **options)
        panel.resize(900, 520)
        panel.show()
        panel.messages = []
        panel.message.connect(panel.messages.append)
        made.append(panel)
        wait_until(panel.viewer.ready, what="the first frame")
        return panel

    yield make
    for panel in made:
        panel.shutdown()
        panel.close()
        panel.deleteLater()


def pixel(widget, point) -> tuple[int, int, int]:
    colour = widget.grab().toImage().pixelColor(point)
    return colour.red(), colour.green(), colour.blue()


def go(panel, wait_until, frame: int) -> None:
    panel.playback.seek(frame)
    wait_until(panel.viewer.ready, what=f"frame {frame}")


def test_the_timeline_shows_each_frames_status(flat_shot, panel_of):
    from PySide6.QtGui import QColor
    from framefill.review.widgets import STATUS_COLOURS

    panel = panel_of(load_shot(flat_shot.pattern, report_dir=flat_shot.report))
    image = panel.timeline.grab().toImage()
    for frame, status in STATUS.items():
        centre = panel.timeline.cell(frame).center().toPoint()
        assert image.pixelColor(centre) == QColor(STATUS_COLOURS[status]), (frame, status)
    # The curve region holds the predicted (green) and true (blue) PSNR points of the scored fills.
    curve = panel.timeline.curve_rect()
    x = round(panel.timeline.cell(4).center().x())
    column = [image.pixelColor(x, y).name() for y in range(int(curve.top()), int(curve.bottom()))]
    assert "#5c940d" in column and "#1971c2" in column


def test_a_decision_key_changes_the_list_and_writes_the_manifest(flat_shot, panel_of, wait_until):
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QColor
    from PySide6.QtTest import QTest
    from framefill.review.widgets import STATUS_COLOURS

    shot = load_shot(flat_shot.pattern, report_dir=flat_shot.report)
    panel = panel_of(shot)
    go(panel, wait_until, 2)
    # WHEN the artist sends frame 2 back with one key
    QTest.keyClick(panel, Qt.Key.Key_R)
    # THEN the list, the manifest entry, the merged manifest and qc.json say so
    assert shot.rerender() == (2, 4, 6)
    assert "re-render: 2-6:2" in panel.rerender_label.text() and "Nuke: 2-6x2" in panel.rerender_label.text()
    review = Manifest(flat_shot.pattern).get(2).review
    assert review["decision"] == "rerender" and review["by"] == "tester" and review["at"]
    merged = json.loads(Manifest(flat_shot.pattern).path.read_text())
    assert merged["sequences"]["shot.####.exr"]["frames"]["2"]["review"]["decision"] == "rerender"
    assert json.loads((flat_shot.report / "qc.json").read_text())["rerender_frames"] == [2, 4, 6]
    cell = panel.timeline.cell(2).center().toPoint()
    assert panel.timeline.grab().toImage().pixelColor(cell) == QColor(STATUS_COLOURS["rerender"])
    # WHEN a range is accepted with Shift+A over the loop range 4-6
    go(panel, wait_until, 4)
    QTest.keyClick(panel, Qt.Key.Key_I)
    go(panel, wait_until, 6)
    QTest.keyClick(panel, Qt.Key.Key_O)
    QTest.keyClick(panel, Qt.Key.Key_A, Qt.KeyboardModifier.ShiftModifier)
    assert shot.rerender() == (2,)
    assert {f: e.decision()["decision"] for f, e in Manifest(flat_shot.pattern).entries().items()
            if e.decision()} == {2: "rerender", 4: "accept", 6: "accept"}
    assert panel.copy_openjd() == "2" and panel.copy_nuke() == "2"


def test_wipe_and_side_by_side_against_the_real_render(flat_shot, panel_of, wait_until):
    panel = panel_of(load_shot(flat_shot.pattern, truth=flat_shot.truth, report_dir=flat_shot.report))
    go(panel, wait_until, 2)
    viewer = panel.viewer
    filled, truth = (srgb8(0.18),) * 3, (0, 0, srgb8(0.5))
    panel.set_reference("truth")
    panel.set_mode("wipe")
    viewer.update_state(wipe_position=0.5)
    wait_until(viewer.ready, what="the wipe")
    # Left of the wipe line the filled frame, right of it the real render.
    assert pixel(viewer, viewer.widget_point(10, HEIGHT // 2)) == filled
    assert pixel(viewer, viewer.widget_point(WIDTH - 10, HEIGHT // 2)) == truth
    viewer.update_state(wipe_position=0.9)
    assert pixel(viewer, viewer.widget_point(WIDTH - 10, HEIGHT // 2)) == filled
    # Side by side: the filled frame, then the reference.
    panel.set_mode("side")
    wait_until(viewer.ready, what="side by side")
    assert viewer.composed().shape == (HEIGHT, 2 * WIDTH, 3)
    assert pixel(viewer, viewer.widget_point(WIDTH // 2, 5)) == filled
    assert pixel(viewer, viewer.widget_point(WIDTH + WIDTH // 2, 5)) == truth
    # Without --truth the reference is the rendered neighbour (frame 1: 0.05 linear).
    panel.set_reference("before")
    wait_until(viewer.ready, what="the neighbour")
    assert pixel(viewer, viewer.widget_point(WIDTH + 5, 5)) == (srgb8(0.05),) * 3


@pytest.mark.parametrize("opacity", [0.5, 0.8])
def test_the_risk_overlay_blends_at_its_opacity(flat_shot, panel_of, wait_until, opacity):
    panel = panel_of(load_shot(flat_shot.pattern, report_dir=flat_shot.report))
    go(panel, wait_until, 4)
    panel.set_overlay("risk", opacity)
    wait_until(panel.viewer.ready, what="the risk map")
    viewer = panel.viewer
    base = srgb8(0.18) / 255.0
    for x, risk in ((10, RISK[0]), (WIDTH - 10, RISK[1])):
        heat = false_colour(np.array([[risk]], np.float32))[0, 0]
        expected = np.rint(255 * ((1 - opacity) * base + opacity * heat)).astype(int)
        got = np.array(pixel(viewer, viewer.widget_point(x, HEIGHT // 2)))
        assert np.abs(got - expected).max() <= 2, (x, got, expected)
    # The true error map (ff_err.Y of the report) is there too; no overlay gives the frame back.
    panel.set_overlay("error")
    wait_until(viewer.ready, what="the error map")
    assert pixel(viewer, viewer.widget_point(10, 10)) != (srgb8(0.18),) * 3
    panel.set_overlay("none")
    assert pixel(viewer, viewer.widget_point(10, 10)) == (srgb8(0.18),) * 3


def test_ocio_display_layers_and_exposure_in_the_viewer(flat_shot, panel_of, wait_until):
    panel = panel_of(load_shot(flat_shot.pattern))
    viewer = panel.viewer
    assert pixel(viewer, viewer.widget_point(5, 5)) == (srgb8(0.05),) * 3  # frame 1
    panel.exposure.setValue(2.0)
    wait_until(viewer.ready, what="the exposure")
    assert pixel(viewer, viewer.widget_point(5, 5)) == (srgb8(0.2),) * 3
    panel.exposure.setValue(0.0)
    panel.set_layer("alpha")
    wait_until(viewer.ready, what="the alpha")
    assert pixel(viewer, viewer.widget_point(5, 5)) == (255, 255, 255)
    assert panel.loader.layers == ("beauty", "alpha", "depth")
    assert [panel.layer_box.itemData(i) for i in range(panel.layer_box.count())] == ["beauty", "alpha", "depth"]


def test_playback_runs_at_the_shots_rate_with_a_clock(flat_shot, panel_of):
    now = [100.0]
    panel = panel_of(load_shot(flat_shot.pattern), clock=lambda: now[0])
    playback = panel.playback
    # The timer asks for one tick per frame-time at 24 fps.
    assert playback.fps == 24.0 and playback.interval_ms == 41
    seen = []
    playback.frame_changed.connect(seen.append)
    playback.play()
    assert playback.timer.isActive() and playback.timer.interval() == 41
    for _ in range(6):  # one frame-time per tick: one frame per tick
        now[0] += 1 / 24
        playback.tick()
    assert seen == [2, 3, 4, 5, 6, 7]
    now[0] += 1.0  # a second later: 24 frames on, looping over the 7 frames
    playback.tick()
    assert playback.current == 1 + (6 + 24) % 7
    # A loop range: playback stays inside it.
    panel.set_loop(3, 5)
    seen.clear()
    for _ in range(9):
        now[0] += 1 / 24
        playback.tick()
    assert set(seen) == {3, 4, 5} and seen[:3] == [4, 5, 3]
    playback.stop()


def test_playback_with_the_real_timer_advances_frames(flat_shot, panel_of, wait_until):
    panel = panel_of(load_shot(flat_shot.pattern))
    seen = []
    panel.playback.frame_changed.connect(seen.append)
    panel.toggle_play()
    assert panel.play_button.text() == "Stop"
    wait_until(lambda: len(set(seen)) >= 4, what="four frames played")
    panel.toggle_play()
    assert not panel.playback.playing and all(f in range(1, 8) for f in seen)


def test_frames_decode_on_a_worker_thread_proxy_first(flat_shot, wait_until):
    from framefill.review.widgets import FrameLoader

    loader = FrameLoader(proxy_width_px=16)
    events = []
    loader.loaded.connect(events.append)
    look = dsp.default_look(**UNTONEMAPPED)
    assert loader.image(Path(flat_shot.path(2)), "beauty", look) == (None, False)
    wait_until(lambda: len(events) == 2, what="the proxy and the full frame")
    proxy, full = events
    assert proxy.proxy and proxy.value.shape == (8, 16, 3) and not full.proxy and full.value.shape == (32, 64, 3)
    assert threading.get_ident() not in (proxy.thread, full.thread)  # decoded off the GUI thread
    assert full.value[0, 0].tolist() == [srgb8(0.18)] * 3
    loaded, is_proxy = loader.image(Path(flat_shot.path(2)), "beauty", look)
    assert loaded is full.value and not is_proxy
    loader.shutdown()


def test_the_frame_cache_stays_inside_its_budget(flat_shot, wait_until):
    from framefill.review.widgets import FrameLoader

    limit = 20_000  # a float32 plane of a frame is 24,576 bytes: never kept; its display image is 6,144
    loader = FrameLoader(cache_bytes=limit)
    look = dsp.default_look(**UNTONEMAPPED)
    done = []
    loader.loaded.connect(done.append)
    for frame in range(1, 8):
        loader.image(Path(flat_shot.path(frame)), "beauty", look)
    wait_until(lambda: len(done) == 7, what="seven frames")
    assert 0 < loader.cache.bytes <= limit and len(loader.cache) == 3
    loader.shutdown()


def test_an_unreadable_frame_shows_a_placeholder_and_one_line(flat_shot, panel_of, wait_until):
    Path(flat_shot.path(4)).write_bytes(b"not an exr at all")
    Path(flat_shot.path(6)).unlink()
    panel = panel_of(load_shot(flat_shot.pattern))
    go(panel, wait_until, 4)
    wait_until(lambda: any("frame 4" in m for m in panel.messages), what="the message")
    message = next(m for m in panel.messages if "frame 4" in m)
    assert "\n" not in message and "shot.0004.exr" in message
    assert np.array_equal(panel.viewer.composed(), dsp.to_rgb8(dsp.placeholder(HEIGHT, WIDTH)))
    go(panel, wait_until, 6)
    assert any(m.startswith("frame 6:") and m.endswith("is missing") for m in panel.messages)
    go(panel, wait_until, 5)  # the next frame shows as usual
    assert pixel(panel.viewer, panel.viewer.widget_point(5, 5)) == (srgb8(0.4),) * 3


def test_without_a_manifest_the_frames_open_and_decisions_say_why_not(flat_shot, panel_of, wait_until):
    import shutil

    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    folder = Path(flat_shot.pattern).parent
    (folder / "framefill.manifest.json").unlink()
    shutil.rmtree(folder / ".framefill")
    panel = panel_of(load_shot(flat_shot.pattern))
    wait_until(lambda: panel.messages, what="the notice")
    assert "decisions need a manifest" in panel.messages[0]
    go(panel, wait_until, 2)
    QTest.keyClick(panel, Qt.Key.Key_A)
    assert "decisions need a manifest" in panel.messages[-1]
    assert pixel(panel.viewer, panel.viewer.widget_point(5, 5)) == (srgb8(0.18),) * 3


def test_the_features_toggle_lists_the_qc_features(flat_shot, panel_of, wait_until):
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    panel = panel_of(load_shot(flat_shot.pattern, report_dir=flat_shot.report))
    go(panel, wait_until, 4)
    assert "flow_angle_std" not in panel.info.text()
    QTest.keyClick(panel, Qt.Key.Key_F)
    assert "QC features:" in panel.info.text() and "flow_angle_std: 0.4" in panel.info.text()
    assert "predicted 24.00 dB" in panel.info.text() and "true 22.50 dB" in panel.info.text()


def test_the_window_submits_the_rerenders(flat_shot, tmp_path, monkeypatch, wait_until):
    from framefill.review import submit
    from framefill.review.window import ReviewWindow

    monkeypatch.setattr(submit, "gui_submitter_available", lambda: False)
    window = ReviewWindow(load_shot(flat_shot.pattern, report_dir=flat_shot.report),
                          look=dsp.default_look(**UNTONEMAPPED))
    window.show()
    done = window.submit(tmp_path / "bundle")
    assert done is not None and done.frames == (4, 6) and (tmp_path / "bundle" / "template.yaml").is_file()
    assert window.last_message.startswith("saved the re-render bundle for 4,6")
    window.close()
    window.deleteLater()
