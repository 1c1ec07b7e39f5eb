"""The review viewer, its timeline and playback: Qt widgets (PySide6, the ``ui`` extra).

:class:`ReviewWidget` is a plain ``QWidget``: the standalone window holds it,
and so can a host's panel (Nuke ships PySide). Frames are decoded on worker
threads (:class:`FrameLoader`); a large frame shows a downscaled proxy first,
and decoded planes and display images share one cache bounded in bytes.
Pixels are composed by :mod:`framefill.review.display` (numpy); Qt only
paints them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QGuiApplication,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QPolygonF,
)
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from framefill.errors import FramefillError
from framefill.review import display as dsp
from framefill.review.cache import DEFAULT_CACHE_BYTES
from framefill.review.loader import PROXY_WIDTH_PX, FrameLoader, Loaded, qimage
from framefill.review.playback import Playback
from framefill.review.shot import Decision, Reference, ReviewShot, Status, nuke_range, openjd_range

__all__ = ["STATUS_COLOURS", "PROXY_WIDTH_PX", "Loaded", "FrameLoader", "Playback", "ReviewViewer", "Timeline",
           "ReviewWidget"]

STATUS_COLOURS: dict[Status, str] = {
    "rendered": "#868e96", "accepted": "#2f9e44", "rerender": "#e03131", "held": "#f08c00",
    "unscored": "#ced4da", "frame": "#495057",
}
_CURVE_COLOURS = {"predicted": "#5c940d", "true": "#1971c2", "threshold": "#adb5bd"}
# The PSNR axis of the curve, as in report.html.
_PSNR_AXIS_DB = (10.0, 50.0)
# Frames decoded ahead of the play head.
PREFETCH_FRAMES = 4
Overlay = Literal["none", "risk", "error"]


# ---------------------------------------------------------------------------------------
# The viewer
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ViewState:
    """What the viewer shows."""

    frame: int
    layer: str = dsp.BEAUTY
    mode: dsp.Mode = "single"
    reference: Reference = "before"
    wipe_position: float = 0.5
    overlay: Overlay = "none"
    opacity: float = 0.5


class ReviewViewer(QWidget):
    """The frame (and its reference) as composed by :mod:`framefill.review.display`, fitted to the widget."""

    message = Signal(str)

    def __init__(self, shot: ReviewShot, loader: FrameLoader, look: dsp.Look, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.shot = shot
        self.loader = loader
        self.look = look
        first = shot.frame_numbers[0]
        self.state = ViewState(first, reference="truth" if shot.truth is not None else "before")
        self._rgb8: np.ndarray | None = None
        self._qimage: QImage | None = None
        self._ready = False
        self._note = ""
        self._said: set[str] = set()
        self._wanted: set[Hashable] = set()  # the cache keys the picture on screen is made of
        self.setMinimumSize(320, 180)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        loader.loaded.connect(self._on_loaded)

    # -- state -------------------------------------------------------------------------------
    def update_state(self, **changes: Any) -> None:
        self.state = replace(self.state, **changes)
        self.refresh()

    def set_look(self, look: dsp.Look) -> None:
        self.look = look
        self.refresh()

    def ready(self) -> bool:
        """Everything the current state needs is decoded at full size (or has failed with its message)."""
        return self._ready

    def composed(self) -> np.ndarray | None:
        """The H,W,3 uint8 image being painted."""
        return self._rgb8

    def image_rect(self) -> QRectF:
        """Where the composed image is painted, in widget pixels (fitted, centred)."""
        if self._rgb8 is None:
            return QRectF()
        rows, cols = self._rgb8.shape[:2]
        scale = min(self.width() / cols, self.height() / rows)
        w, h = cols * scale, rows * scale
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def widget_point(self, x: float, y: float) -> QPoint:
        """The widget pixel that shows pixel (x, y) of the composed image (its centre)."""
        rect = self.image_rect()
        assert self._rgb8 is not None
        rows, cols = self._rgb8.shape[:2]
        return QPoint(int(rect.x() + (x + 0.5) * rect.width() / cols),
                      int(rect.y() + (y + 0.5) * rect.height() / rows))

    # -- composing ---------------------------------------------------------------------------
    def _frame_image(self, path: Path | None, frame: int) -> tuple[np.ndarray | None, bool, str | None]:
        """(display image, final, error) of a file: a placeholder when it is missing or unreadable."""
        if path is None or not path.is_file():
            return None, True, None if path is None else f"frame {frame}: {path} is missing"
        key = ("disp", str(path), self.state.layer, self.look)
        self._wanted.add(key)
        image, is_proxy = self.loader.image(path, self.state.layer, self.look)
        error = self.loader.error(key)
        if error is not None:
            return None, True, f"frame {frame}: {error}"
        return image, image is not None and not is_proxy, None

    def refresh(self) -> None:
        s = self.state
        self._wanted = {("maps", s.frame)}
        path = Path(self.shot.path(s.frame))
        a, a_final, a_error = self._frame_image(path, s.frame)
        ready = a_final
        b = None
        if s.mode != "single":
            ref = self.shot.reference_path(s.frame, s.reference)
            b, b_final, b_error = self._frame_image(ref, s.frame)
            ready = ready and b_final
            if ref is None:
                self._say(f"frame {s.frame}: no {_REFERENCE_WORDS[s.reference]} to compare with")
            elif b_error:
                self._say(b_error)
        if a_error:
            self._say(a_error)
        shape = next((x.shape for x in (a, b) if x is not None), self._last_shape())
        af = (a.astype(np.float32) / 255.0) if a is not None else dsp.placeholder(shape[0], shape[1])
        self._note = f"cannot show frame {s.frame}" if a_error else ""
        if s.overlay != "none" and a is not None:
            maps = self.loader.maps(s.frame, self.shot.heatmap_path(s.frame), path, self.shot.truth_path(s.frame),
                                    self.shot.color)
            if maps is None:
                ready = False
            else:
                unit = maps[0] if s.overlay == "risk" else maps[1]
                if unit is None:
                    missing = "risk map (run framefill qc --report)" if s.overlay == "risk" \
                        else "true error (give --truth, or run framefill qc --truth)"
                    self._say(f"frame {s.frame}: no {missing}")
                else:
                    af = dsp.heat_overlay(af, unit, s.opacity)
        if s.mode == "single":
            out = af
        else:
            bf = (b.astype(np.float32) / 255.0) if b is not None else dsp.placeholder(*af.shape[:2])
            out = dsp.wipe(af, bf, s.wipe_position) if s.mode == "wipe" else dsp.side_by_side(af, bf)
        self._rgb8 = dsp.to_rgb8(out)
        self._qimage = qimage(self._rgb8)
        self._ready = ready
        self.update()

    def _last_shape(self) -> tuple[int, int]:
        if self._rgb8 is not None:
            rows, cols = self._rgb8.shape[:2]
            return rows, cols // 2 if self.state.mode == "side" else cols
        return 270, 480

    def _say(self, text: str) -> None:
        if text not in self._said:
            self._said.add(text)
            self.message.emit(text)

    def _on_loaded(self, result: Loaded) -> None:
        if result.key in self._wanted:
            self.refresh()

    # -- painting and the mouse --------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#101113"))
        if self._qimage is not None:
            rect = self.image_rect()
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, rect.width() < self._qimage.width())
            painter.drawImage(rect, self._qimage)
            if self.state.mode == "wipe":
                x = rect.x() + self.state.wipe_position * rect.width()
                painter.setPen(QPen(QColor("#ffd43b"), 1))
                painter.drawLine(QPointF(x, rect.top()), QPointF(x, rect.bottom()))
            if self._note:
                painter.setPen(QColor("#ff8787"))
                painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, self._note)
        painter.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self._drag_wipe(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        self._drag_wipe(event)

    def _drag_wipe(self, event: QMouseEvent) -> None:
        rect = self.image_rect()
        if self.state.mode == "wipe" and rect.width() > 0:
            self.update_state(wipe_position=float(np.clip((event.position().x() - rect.x()) / rect.width(), 0, 1)))


_REFERENCE_WORDS = {"truth": "real render", "before": "rendered frame before it", "after": "rendered frame after it"}


# ---------------------------------------------------------------------------------------
# The timeline
# ---------------------------------------------------------------------------------------


class Timeline(QWidget):
    """Each frame's status as a coloured cell, the loop range and play head, and the PSNR curves under it."""

    frame_clicked = Signal(int)
    STRIP_PX = 26
    CURVE_PX = 96
    MARGIN_PX = 8

    def __init__(self, shot: ReviewShot, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.shot = shot
        self.current = shot.frame_numbers[0]
        self.loop = (shot.frame_numbers[0], shot.frame_numbers[-1])
        self.setFixedHeight(self.STRIP_PX + self.CURVE_PX + 3 * self.MARGIN_PX)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)

    def strip_rect(self) -> QRectF:
        m = self.MARGIN_PX
        return QRectF(m, m, self.width() - 2 * m, self.STRIP_PX)

    def curve_rect(self) -> QRectF:
        m = self.MARGIN_PX
        return QRectF(m, 2 * m + self.STRIP_PX, self.width() - 2 * m, self.CURVE_PX)

    def cell(self, frame: int) -> QRectF:
        """The cell of ``frame`` in the status strip."""
        frames = self.shot.frame_numbers
        strip = self.strip_rect()
        width = strip.width() / len(frames)
        return QRectF(strip.x() + frames.index(frame) * width, strip.y(), width, strip.height())

    def _y_db(self, db: float) -> float:
        lo, hi = _PSNR_AXIS_DB
        rect = self.curve_rect()
        return rect.bottom() - (min(max(db, lo), hi) - lo) / (hi - lo) * rect.height()

    def set_current(self, frame: int) -> None:
        self.current = frame
        self.update()

    def set_loop(self, first: int, last: int) -> None:
        self.loop = (first, last)
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#1b1d21"))
        for frame, info in self.shot.frames.items():
            painter.fillRect(self.cell(frame).adjusted(0.5, 0, -0.5, 0), QColor(STATUS_COLOURS[info.status]))
            if info.decision is not None:  # a person's decision: a white bar at the top of the cell
                top = self.cell(frame)
                painter.fillRect(QRectF(top.x() + 0.5, top.y(), top.width() - 1, 4), QColor("#f8f9fa"))
        first, last = self.cell(self.loop[0]), self.cell(self.loop[1])
        painter.fillRect(QRectF(first.x(), first.bottom() - 3, last.right() - first.x(), 3), QColor("#4dabf7"))
        self._paint_curves(painter)
        head = self.cell(self.current)
        painter.setPen(QPen(QColor("#ffffff"), 2))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(head.adjusted(1, 1, -1, -1))
        painter.drawLine(QPointF(head.center().x(), head.bottom()), QPointF(head.center().x(),
                                                                             self.curve_rect().bottom()))
        painter.end()

    def _paint_curves(self, painter: QPainter) -> None:
        rect = self.curve_rect()
        painter.fillRect(rect, QColor("#25282d"))
        painter.setPen(QPen(QColor("#868e96"), 1))
        painter.drawText(rect.adjusted(4, 2, -4, -2), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop,
                         f"PSNR {_PSNR_AXIS_DB[1]:g} dB")
        painter.drawText(rect.adjusted(4, 2, -4, -2), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom,
                         f"{_PSNR_AXIS_DB[0]:g} dB")
        legend = rect.adjusted(4, 2, -4, -2)
        for text, colour in (("true PSNR", _CURVE_COLOURS["true"]), ("predicted PSNR   ", _CURVE_COLOURS["predicted"])):
            painter.setPen(QColor(colour))
            painter.drawText(legend, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop, text)
            legend.setRight(legend.right() - painter.fontMetrics().horizontalAdvance(text))
        if self.shot.threshold_db is not None:
            y = self._y_db(self.shot.threshold_db)
            painter.setPen(QPen(QColor(_CURVE_COLOURS["threshold"]), 1, Qt.PenStyle.DashLine))
            painter.drawLine(QPointF(rect.left(), y), QPointF(rect.right(), y))
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        for key, colour in (("predicted_psnr_db", _CURVE_COLOURS["predicted"]), ("psnr_db", _CURVE_COLOURS["true"])):
            points = [QPointF(self.cell(f).center().x(), self._y_db(getattr(r, key)))
                      for f, r in self.shot.frames.items() if getattr(r, key) is not None]
            if not points:
                continue
            painter.setPen(QPen(QColor(colour), 2))
            painter.drawPolyline(QPolygonF(points))
            painter.setBrush(QBrush(QColor(colour)))
            for point in points:
                painter.drawEllipse(point, 3, 3)
            painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self._seek(event.position().x())

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        self._seek(event.position().x())

    def _seek(self, x: float) -> None:
        strip = self.strip_rect()
        frames = self.shot.frame_numbers
        index = int((x - strip.x()) / max(strip.width(), 1) * len(frames))
        self.frame_clicked.emit(frames[min(max(index, 0), len(frames) - 1)])


# ---------------------------------------------------------------------------------------
# The whole review panel
# ---------------------------------------------------------------------------------------


class ReviewWidget(QWidget):
    """Viewer, timeline, controls and the re-render list of one filled shot: the panel a window or a host holds.

    Keys: A accept, R send back for a re-render, C clear the decision (with
    Shift: every frame of the loop range); Space play/stop; Left/Right step;
    I/O set the loop range's first/last frame; W wipe, S side by side, V the
    frame alone; H cycle the overlay (risk, true error, none); F the QC
    features; +/- exposure.
    """

    message = Signal(str)
    decided = Signal(object)

    def __init__(self, shot: ReviewShot, *, look: dsp.Look | None = None, cache_bytes: int = DEFAULT_CACHE_BYTES,
                 user: str | None = None, clock: Callable[[], float] = time.monotonic,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.shot = shot
        self.user = user
        self.loader = FrameLoader(cache_bytes=cache_bytes, parent=self)
        self.viewer = ReviewViewer(shot, self.loader, look or dsp.default_look(shot.color.config,
                                                                               shot.color.scene_linear), self)
        self.timeline = Timeline(shot, self)
        self.playback = Playback(shot.frame_numbers, shot.fps, clock=clock, parent=self)
        self.info = QLabel(self)
        self.info.setTextFormat(Qt.TextFormat.PlainText)
        self.info.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.info.setWordWrap(True)
        self.info.setFixedWidth(220)
        self.rerender_label = QLabel(self)
        self.show_features = False
        self._build_controls()
        self._layout()
        self.playback.frame_changed.connect(self.show_frame)
        self.timeline.frame_clicked.connect(self._clicked)
        self.viewer.message.connect(self.message)
        self.loader.loaded.connect(self._on_loaded)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.show_frame(self.playback.current)
        notice = shot.no_manifest_message()
        if notice:
            QTimer.singleShot(0, lambda: self.message.emit(notice))

    # -- building -----------------------------------------------------------------------------
    def _build_controls(self) -> None:
        self.play_button = QPushButton("Play", self)
        self.play_button.clicked.connect(self.toggle_play)
        self.frame_label = QLabel(self)
        self.mode_box = _combo(self, [("A only", "single"), ("A/B wipe", "wipe"), ("side by side", "side")],
                               lambda v: self.viewer.update_state(mode=v))
        refs = [("real render", "truth")] if self.shot.truth is not None else []
        self.reference_box = _combo(self, refs + [("rendered before", "before"), ("rendered after", "after")],
                                    lambda v: self.viewer.update_state(reference=v))
        self.overlay_box = _combo(self, [("no overlay", "none"), ("risk map", "risk"), ("true error", "error")],
                                  lambda v: self.viewer.update_state(overlay=v))
        self.opacity = QSlider(Qt.Orientation.Horizontal, self)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(50)
        self.opacity.setFixedWidth(90)
        self.opacity.valueChanged.connect(lambda v: self.viewer.update_state(opacity=v / 100.0))
        self.features_box = QCheckBox("QC features", self)
        self.features_box.toggled.connect(self._toggle_features)
        self.layer_box = _combo(self, [(dsp.BEAUTY, dsp.BEAUTY)], lambda v: self.viewer.update_state(layer=v))
        views = _views(self.viewer.look)
        self.view_box = _combo(self, [(v, v) for v in views], self._set_view)
        self.view_box.setCurrentIndex(max(0, views.index(self.viewer.look.view)) if self.viewer.look.view in views
                                      else 0)
        self.exposure = QDoubleSpinBox(self)
        self.exposure.setRange(-16.0, 16.0)
        self.exposure.setSingleStep(0.5)
        self.exposure.setPrefix("exp ")
        self.exposure.valueChanged.connect(self._set_exposure)
        for control in (self.play_button, self.mode_box, self.reference_box, self.overlay_box, self.opacity,
                        self.features_box, self.layer_box, self.view_box, self.exposure):
            control.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys go to the panel, not to a combo box
        for box in (self.mode_box, self.reference_box, self.overlay_box, self.layer_box, self.view_box):
            box.setMaximumWidth(170)
            box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            box.setMinimumContentsLength(8)

    def _layout(self) -> None:
        controls = QHBoxLayout()
        for control in (self.play_button, self.frame_label, self.mode_box, self.reference_box, self.overlay_box,
                        self.opacity, self.features_box):
            controls.addWidget(control)
        controls.addStretch(1)
        looks = QHBoxLayout()
        looks.addWidget(self.rerender_label, 1)
        for setting in (self.layer_box, self.view_box, self.exposure):
            looks.addWidget(setting)
        top = QHBoxLayout()
        top.addWidget(self.viewer, 1)
        top.addWidget(self.info)
        root = QVBoxLayout(self)
        root.setContentsMargins(4, 4, 4, 4)
        root.addLayout(top, 1)
        root.addWidget(self.timeline)
        root.addLayout(controls)
        root.addLayout(looks)

    # -- frames and playback ------------------------------------------------------------------
    def show_frame(self, frame: int) -> None:
        if self.playback.current != frame:
            self.playback.seek(frame)
            return
        self.timeline.set_current(frame)
        self.viewer.update_state(frame=frame)
        self.frame_label.setText(f"{frame}  ({self.shot.fps:g} fps)")
        self._update_info()
        if self.playback.playing:  # decode ahead of the play head
            loop = self.playback._loop()
            index = loop.index(frame) if frame in loop else 0
            for ahead in loop[index + 1:index + 1 + PREFETCH_FRAMES]:
                path = Path(self.shot.path(ahead))
                if path.is_file():
                    self.loader.image(path, self.viewer.state.layer, self.viewer.look)

    def _clicked(self, frame: int) -> None:
        self.playback.stop()
        self.play_button.setText("Play")
        self.playback.seek(frame)

    def toggle_play(self) -> None:
        self.playback.toggle()
        self.play_button.setText("Stop" if self.playback.playing else "Play")

    def set_mode(self, mode: dsp.Mode) -> None:
        _pick(self.mode_box, mode)

    def set_reference(self, reference: Reference) -> None:
        _pick(self.reference_box, reference)

    def set_overlay(self, overlay: Overlay, opacity: float | None = None) -> None:
        if opacity is not None:
            self.opacity.setValue(round(opacity * 100))
        _pick(self.overlay_box, overlay)

    def set_layer(self, layer: str) -> None:
        if self.layer_box.findData(layer) < 0:
            self.layer_box.addItem(layer, layer)
        _pick(self.layer_box, layer)

    def set_loop(self, first: int | None = None, last: int | None = None) -> None:
        lo = self.playback.first if first is None else first
        hi = self.playback.last if last is None else last
        self.playback.set_range(lo, hi)
        self.timeline.set_loop(self.playback.first, self.playback.last)

    # -- decisions ----------------------------------------------------------------------------
    def decide(self, decision: Decision | None, *, whole_range: bool = False) -> tuple[int, ...]:
        """A person's decision on the current frame (or every frame of the loop range); saved at once."""
        frames = [f for f in self.shot.frame_numbers if self.playback.first <= f <= self.playback.last] \
            if whole_range else [self.playback.current]
        try:
            done = self.shot.decide(frames, decision, by=self.user)
        except FramefillError as err:
            self.message.emit(err.msg)
            return ()
        if not done:
            self.message.emit(f"frame {frames[0]} is a real render: nothing to decide" if len(frames) == 1
                              else "no filled or held frames in the loop range")
            return ()
        what = {"accept": "accepted", "rerender": "sent back for a re-render", None: "cleared"}[decision]
        self.message.emit(f"{openjd_range(done)} {what}; re-render list: {openjd_range(self.shot.rerender()) or '-'}")
        self.timeline.update()
        self._update_info()
        self.decided.emit(done)
        return done

    def copy_openjd(self) -> str:
        return self._copy(openjd_range(self.shot.rerender()), "OpenJD")

    def copy_nuke(self) -> str:
        return self._copy(nuke_range(self.shot.rerender()), "Nuke")

    def _copy(self, text: str, what: str) -> str:
        QGuiApplication.clipboard().setText(text)
        self.message.emit(f"copied the re-render list as a {what} range: {text or '(empty)'}")
        return text

    # -- display settings ---------------------------------------------------------------------
    def _set_view(self, view: str) -> None:
        self.viewer.set_look(replace(self.viewer.look, view=view))

    def _set_exposure(self, stops: float) -> None:
        self.viewer.set_look(replace(self.viewer.look, exposure_stops=float(stops)))

    def _toggle_features(self, on: bool) -> None:
        self.show_features = on
        self._update_info()

    def _on_loaded(self, result: Loaded) -> None:
        if result.layers and self.layer_box.count() != len(result.layers):
            current = self.viewer.state.layer
            self.layer_box.blockSignals(True)
            self.layer_box.clear()
            for name in result.layers:
                self.layer_box.addItem(name, name)
            self.layer_box.setCurrentIndex(max(0, self.layer_box.findData(current)))
            self.layer_box.blockSignals(False)

    def _update_info(self) -> None:
        r = self.shot.frames[self.playback.current]
        lines = [f"frame {r.frame}: {_STATUS_WORDS[r.status]}"]
        if r.predicted_psnr_db is not None:
            lines.append(f"predicted {r.predicted_psnr_db:.2f} dB" + (f" ({r.basis})" if r.basis else ""))
        if r.psnr_db is not None:
            lines.append(f"true {r.psnr_db:.2f} dB")
        if r.reason and r.status in ("rerender", "held"):
            lines.append(f"QC: {r.reason}")
        if r.decision is not None:
            lines.append(f"{r.decision['decision']} by {r.decision['by']} at {r.decision['at']}")
        if self.show_features:
            lines.append("")
            lines.append("QC features:" if r.features else "QC features: none recorded")
            lines += [f"  {k}: {v:.4g}" for k, v in sorted(r.features.items())]
            if r.keyframe_checks:
                lines.append(f"  keyframe checks: {', '.join(map(str, r.keyframe_checks))}")
        self.info.setText("\n".join(lines))
        listed = self.shot.rerender()
        self.rerender_label.setText(f"re-render: {openjd_range(listed) or '(none)'}   "
                                    f"Nuke: {nuke_range(listed) or '-'}")

    # -- keys ---------------------------------------------------------------------------------
    def keyPressEvent(self, event: QKeyEvent) -> None:
        key, shift = event.key(), bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        K = Qt.Key
        actions: dict[Any, Callable[[], Any]] = {
            K.Key_A: lambda: self.decide("accept", whole_range=shift),
            K.Key_R: lambda: self.decide("rerender", whole_range=shift),
            K.Key_C: lambda: self.decide(None, whole_range=shift),
            K.Key_Space: self.toggle_play,
            K.Key_Left: lambda: self.playback.step(-1),
            K.Key_Right: lambda: self.playback.step(1),
            K.Key_I: lambda: self.set_loop(first=self.playback.current),
            K.Key_O: lambda: self.set_loop(last=self.playback.current),
            K.Key_W: lambda: _pick(self.mode_box, "wipe"),
            K.Key_S: lambda: _pick(self.mode_box, "side"),
            K.Key_V: lambda: _pick(self.mode_box, "single"),
            K.Key_H: lambda: self.overlay_box.setCurrentIndex((self.overlay_box.currentIndex() + 1) % 3),
            K.Key_F: lambda: self.features_box.toggle(),
            K.Key_Plus: lambda: self.exposure.stepUp(),
            K.Key_Equal: lambda: self.exposure.stepUp(),
            K.Key_Minus: lambda: self.exposure.stepDown(),
        }
        action = actions.get(key)
        if action is None:
            super().keyPressEvent(event)
            return
        action()
        if key in (K.Key_Left, K.Key_Right):
            self.play_button.setText("Play")

    def shutdown(self) -> None:
        """Stop playback and the decode threads (a host calls this before it deletes the panel)."""
        self.playback.stop()
        self.loader.shutdown()


_STATUS_WORDS: dict[Status, str] = {
    "rendered": "rendered", "accepted": "filled, accepted", "rerender": "filled, listed for a re-render",
    "held": "held (needs a render)", "unscored": "filled, not scored by QC yet", "frame": "a frame (no manifest)",
}


def _combo(parent: QWidget, items: list[tuple[str, Any]], changed: Callable[[Any], None]) -> QComboBox:
    box = QComboBox(parent)
    for label, value in items:
        box.addItem(label, value)
    box.currentIndexChanged.connect(lambda index: changed(box.itemData(index)))
    return box


def _pick(box: QComboBox, value: Any) -> None:
    box.setCurrentIndex(max(0, box.findData(value)))


def _views(look: dsp.Look) -> list[str]:
    from framefill.color import display_views

    return display_views(look.config).get(look.display, [look.view])
