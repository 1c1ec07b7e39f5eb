"""Frames decoded on worker threads for the review viewer, kept in one cache bounded in bytes (PySide6).

A frame wider than ``proxy_width_px`` is shown first as a downscaled proxy;
the full frame follows. Results come back to the GUI thread as ``loaded``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal
from PySide6.QtGui import QImage

from framefill.errors import FramefillError
from framefill.frames import read_exr
from framefill.review import display as dsp
from framefill.review.cache import DEFAULT_CACHE_BYTES, ByteLRU

__all__ = ["PROXY_WIDTH_PX", "Loaded", "FrameLoader", "qimage"]

# A frame wider than this is shown first as a proxy this wide while the full frame is transformed.
PROXY_WIDTH_PX = 960


def _nbytes(value: Any) -> int:
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, dsp.Plane):
        return value.nbytes
    if isinstance(value, tuple):
        return sum(_nbytes(v) for v in value) + 64
    return 256


@dataclass(frozen=True)
class Loaded:
    """What a worker made for ``key``: an image (uint8 H,W,3), the maps, or the one-line ``error``."""

    key: Hashable
    value: Any
    proxy: bool = False
    error: str | None = None
    layers: tuple[str, ...] = ()
    thread: int = 0  # the ident of the thread that decoded it


class _Signals(QObject):
    done = Signal(object)


class _Task(QRunnable):
    def __init__(self, work: Callable[[Callable[[Loaded], None]], None], signals: _Signals) -> None:
        super().__init__()
        self._work = work
        self._signals = signals

    def run(self) -> None:
        self._work(self._signals.done.emit)


class FrameLoader(QObject):
    """Decodes frames and maps on a thread pool and keeps them in one :class:`ByteLRU`.

    ``loaded`` is emitted on the GUI thread for each result (a proxy first for a
    frame wider than ``proxy_width_px``, then the full one).
    """

    loaded = Signal(object)

    def __init__(self, *, cache_bytes: int = DEFAULT_CACHE_BYTES, proxy_width_px: int = PROXY_WIDTH_PX,
                 threads: int = 2, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.cache: ByteLRU[Any] = ByteLRU(cache_bytes, _nbytes)
        self.proxy_width_px = proxy_width_px
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(threads)
        self._signals = _Signals(self)
        self._signals.done.connect(self._done)
        self._pending: set[Hashable] = set()
        self.layers: tuple[str, ...] = ()

    def image(self, path: Path, layer: str, look: dsp.Look) -> tuple[np.ndarray | None, bool]:
        """The display image of a frame file if it is cached (full, else proxy: the bool says proxy), else
        (None, False); a missing one is decoded in the background."""
        key = ("disp", str(path), layer, look)
        full = self.cache.get(key)
        if full is not None:
            return full, False
        self._submit(key, lambda emit: self._load_image(key, path, layer, look, emit))
        small = self.cache.get(("proxy", str(path), layer, look))
        return small, small is not None

    def maps(self, frame: int, heatmap: Path | None, filled: Path, truth: Path | None,
             color: Any) -> tuple[np.ndarray | None, np.ndarray | None] | None:
        """(risk, true error) of a frame in [0, 1] if cached, else None (decoded in the background)."""
        key = ("maps", frame)
        found = self.cache.get(key)
        if found is not None:
            return tuple(found)
        self._submit(key, lambda emit: self._load_maps(key, heatmap, filled, truth, color, emit))
        return None

    def error(self, key: Hashable) -> str | None:
        found = self.cache.get(("error", key))
        return str(found) if found is not None else None

    def busy(self) -> bool:
        return bool(self._pending)

    def shutdown(self) -> None:
        """Drop queued work and wait for the running tasks (call before the widget goes)."""
        self._pool.clear()
        self._pool.waitForDone()

    # -- internals ---------------------------------------------------------------------------
    def _submit(self, key: Hashable, work: Callable[[Callable[[Loaded], None]], None]) -> None:
        if key in self._pending or ("error", key) in self.cache:
            return
        self._pending.add(key)
        self._pool.start(_Task(work, self._signals))

    def _done(self, result: Loaded) -> None:
        if not result.proxy:
            self._pending.discard(result.key)
        if result.error is not None:
            self.cache.put(("error", result.key), result.error)
        if result.layers:
            self.layers = result.layers
        self.loaded.emit(result)

    def _load_image(self, key: Hashable, path: Path, layer: str, look: dsp.Look,
                    emit: Callable[[Loaded], None]) -> None:
        ident = threading.get_ident()
        try:
            plane_key = ("plane", str(path), layer)
            plane = self.cache.get(plane_key)
            layers: tuple[str, ...] = ()
            if plane is None:
                image = read_exr(path)
                layers = tuple(dsp.layer_names(image))
                plane = dsp.select_layer(image, layer)
                self.cache.put(plane_key, plane)
                if plane.rgb.shape[1] > self.proxy_width_px:
                    small = dsp.to_rgb8(dsp.display_image(dsp.proxy(plane, self.proxy_width_px), look))
                    self.cache.put(("proxy", str(path), layer, look), small)
                    emit(Loaded(key, small, proxy=True, layers=layers, thread=ident))
            full = dsp.to_rgb8(dsp.display_image(plane, look))
            self.cache.put(key, full)
            emit(Loaded(key, full, layers=layers, thread=ident))
        except (FramefillError, OSError, ValueError, MemoryError) as err:
            emit(Loaded(key, None, error=_one_line(path, err), thread=ident))

    def _load_maps(self, key: Hashable, heatmap: Path | None, filled: Path, truth: Path | None, color: Any,
                   emit: Callable[[Loaded], None]) -> None:
        ident = threading.get_ident()
        try:
            risk, err = dsp.read_heatmaps(heatmap) if heatmap is not None else (None, None)
            if err is None and truth is not None:
                err = dsp.truth_error(dsp.select_layer(read_exr(filled), dsp.BEAUTY),
                                      dsp.select_layer(read_exr(truth), dsp.BEAUTY), color)
            self.cache.put(key, (risk, err))
            emit(Loaded(key, (risk, err), thread=ident))
        except (FramefillError, OSError, ValueError, MemoryError) as error:
            emit(Loaded(key, (None, None), error=_one_line(heatmap or filled, error), thread=ident))


def _one_line(path: Path, err: BaseException) -> str:
    text = err.msg if isinstance(err, FramefillError) else f"{type(err).__name__}: {err}"
    text = " ".join(text.split())
    return text if str(path) in text else f"cannot read {path}: {text}"


def qimage(rgb8: np.ndarray) -> QImage:
    rows, cols = rgb8.shape[:2]
    data = np.ascontiguousarray(rgb8).tobytes()
    return QImage(data, cols, rows, 3 * cols, QImage.Format.Format_RGB888).copy()
