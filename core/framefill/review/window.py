"""The standalone review window (``framefill review``): the review panel, its menus and a status line."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMainWindow, QWidget

from framefill.errors import FramefillError
from framefill.review import display as dsp
from framefill.review.cache import DEFAULT_CACHE_BYTES
from framefill.review.shot import ReviewShot
from framefill.review.submit import Submitted, submit_rerenders
from framefill.review.widgets import ReviewWidget

__all__ = ["ReviewWindow", "BUNDLE_SUBDIR"]

# Where the re-render bundle is offered to go: beside the filled frames.
BUNDLE_SUBDIR = "rerender_bundle"


class ReviewWindow(QMainWindow):
    """A :class:`ReviewWidget` with File and Edit menus and the one-line messages in the status bar."""

    def __init__(self, shot: ReviewShot, *, look: dsp.Look | None = None, cache_bytes: int = DEFAULT_CACHE_BYTES,
                 user: str | None = None, clock: Callable[[], float] = time.monotonic,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"framefill review - {shot.pattern}")
        self.panel = ReviewWidget(shot, look=look, cache_bytes=cache_bytes, user=user, clock=clock, parent=self)
        self.setCentralWidget(self.panel)
        self.panel.message.connect(self.say)
        self.last_message = ""
        self.statusBar().setSizeGripEnabled(False)
        self.last_submitted: Submitted | None = None
        file_menu = self.menuBar().addMenu("&File")
        self.submit_action = QAction("Submit re-renders to Deadline Cloud...", self)
        self.submit_action.triggered.connect(lambda: self.submit())
        file_menu.addAction(self.submit_action)
        close = QAction("Close", self)
        close.setShortcut(QKeySequence(QKeySequence.StandardKey.Close))
        close.triggered.connect(self.close)
        file_menu.addAction(close)
        edit = self.menuBar().addMenu("&Edit")
        for label, slot, keys in (("Copy re-render list (OpenJD range)", self.panel.copy_openjd, "Ctrl+C"),
                                  ("Copy re-render list (Nuke range)", self.panel.copy_nuke, "Ctrl+Shift+C")):
            action = QAction(label, self)
            action.setShortcut(QKeySequence(keys))
            action.triggered.connect(slot)
            edit.addAction(action)
        self.panel.setFocus()

    def say(self, text: str) -> None:
        """One line in the status bar."""
        self.last_message = text
        self.statusBar().showMessage(text)

    def submit(self, out_dir: str | Path | None = None) -> Submitted | None:
        """Build the re-render bundle (asking for its folder unless given); open the submitter or save it."""
        if out_dir is None:
            start = str(Path(self.panel.shot.path(0)).parent / BUNDLE_SUBDIR)
            chosen = QFileDialog.getExistingDirectory(self, "Folder for the re-render job bundle", start)
            if not chosen:
                return None
            out_dir = chosen
        try:
            done = submit_rerenders(self.panel.shot, out_dir)
        except FramefillError as err:
            self.say(err.msg)
            return None
        self.last_submitted = done
        self.say(done.message())
        return done

    def closeEvent(self, event: QCloseEvent) -> None:
        self.panel.shutdown()
        super().closeEvent(event)
