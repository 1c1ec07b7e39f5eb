"""Playback at a shot's rate for the review viewer (PySide6): the frame shown is the one the clock says is due."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, QTimer, Signal

__all__ = ["Playback"]


class Playback(QObject):
    """Plays ``frames`` at ``fps`` in a loop over ``[first, last]``, one frame per frame-time of the clock.

    The frame shown is the one the clock says is due, so playback keeps the
    shot's rate when decoding or painting falls behind (frames are skipped, not
    slowed). ``clock`` returns seconds (``time.monotonic`` unless a test gives one).
    """

    frame_changed = Signal(int)

    def __init__(self, frames: tuple[int, ...], fps: float, *, clock: Callable[[], float] = time.monotonic,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        if not frames:
            raise ValueError("playback needs at least one frame")
        self.frames = frames
        self.fps = float(fps)
        self.clock = clock
        self.current = frames[0]
        self.first, self.last = frames[0], frames[-1]
        self._t0 = 0.0
        self._start_index = 0
        self.timer = QTimer(self)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(self.interval_ms)
        self.timer.timeout.connect(self.tick)

    @property
    def interval_ms(self) -> int:
        """The timer's interval: one frame-time, so no due frame is missed by more than one tick."""
        return max(1, int(1000.0 / self.fps))

    @property
    def playing(self) -> bool:
        return self.timer.isActive()

    def _loop(self) -> tuple[int, ...]:
        return tuple(f for f in self.frames if self.first <= f <= self.last) or self.frames

    def set_range(self, first: int, last: int) -> None:
        """Loop over ``first``..``last`` (swapped when given the wrong way round)."""
        self.first, self.last = min(first, last), max(first, last)
        if self.playing:
            self.play()

    def play(self) -> None:
        loop = self._loop()
        self._start_index = loop.index(self.current) if self.current in loop else 0
        self._t0 = self.clock()
        self.seek(loop[self._start_index])
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def toggle(self) -> None:
        self.stop() if self.playing else self.play()

    def tick(self) -> None:
        """Show the frame due now."""
        loop = self._loop()
        due = int(math.floor((self.clock() - self._t0) * self.fps + 1e-6))
        self.seek(loop[(self._start_index + due) % len(loop)])

    def step(self, delta: int) -> None:
        """Stop and move ``delta`` frames within the loop (wrapping)."""
        self.stop()
        loop = self._loop()
        index = loop.index(self.current) if self.current in loop else 0
        self.seek(loop[(index + delta) % len(loop)])

    def seek(self, frame: int) -> None:
        if frame != self.current:
            self.current = frame
            self.frame_changed.emit(frame)
