"""``framefill review``'s body: load the shot, open the window, run Qt's event loop."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from framefill.errors import InputError
from framefill.review.shot import load_shot

__all__ = ["UI_EXTRA_MESSAGE", "require_qt", "run_review"]

UI_EXTRA_MESSAGE = "framefill review needs the ui extra: pip install 'framefill[ui]'"


def require_qt() -> None:
    """Raises InputError (one line, exit 2) when PySide6 cannot be imported."""
    try:
        found = importlib.util.find_spec("PySide6.QtWidgets") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise InputError(UI_EXTRA_MESSAGE)
    try:
        import PySide6.QtWidgets  # noqa: F401
    except ImportError as err:
        raise InputError(f"{UI_EXTRA_MESSAGE} ({err})") from None


def run_review(pattern: str, *, truth: str | None = None, report_dir: str | Path | None = None,
               display: str | None = None, view: str | None = None, fps: float | None = None,
               cache_bytes: int | None = None, user: str | None = None, color_config: str | None = None,
               colorspace: str | None = None) -> int:
    """Open the review window on a filled shot and return Qt's exit code when it closes.

    ``color_config``/``colorspace`` override the colour setup the manifest recorded
    (the part not given is kept, or resolved afresh when the config changes).

    Raises:
        InputError: no PySide6, a bad pattern, report folder, fps or colour view.
    """
    require_qt()
    if fps is not None and not 0 < fps <= 1000:
        raise InputError(f"--fps must be a number above 0 and at most 1000, got {fps:g}")
    shot = load_shot(pattern, truth=truth, report_dir=report_dir, fps=fps)
    if color_config is not None or colorspace is not None:
        from framefill.color import resolve_color

        same_config = color_config is None or color_config == shot.color.config
        shot.color = resolve_color(config=shot.color.config if color_config is None else color_config,
                                   colorspace=colorspace or (shot.color.scene_linear if same_config else None))
    from PySide6.QtWidgets import QApplication

    from framefill.review.cache import DEFAULT_CACHE_BYTES
    from framefill.review.display import default_look
    from framefill.review.window import ReviewWindow

    look = default_look(shot.color.config, shot.color.scene_linear, display=display, view=view)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    window = ReviewWindow(shot, look=look, cache_bytes=DEFAULT_CACHE_BYTES if cache_bytes is None else cache_bytes,
                          user=user)
    window.resize(1280, 800)
    window.show()
    return int(app.exec())
