"""PySide6 (Nuke 16) or PySide2 (Nuke 14-15), whichever this Nuke has; imported only when needed."""

from typing import Any, Optional

__all__ = ["qt_widgets", "copy_to_clipboard", "main_window"]


def qt_widgets() -> Optional[Any]:
    """The QtWidgets module, or None in terminal mode or without Qt."""
    try:
        from PySide6 import QtWidgets  # type: ignore[import-not-found]
    except ImportError:
        try:
            from PySide2 import QtWidgets  # type: ignore[import-not-found]
        except ImportError:
            return None
    return QtWidgets


def copy_to_clipboard(text: str) -> bool:
    """Put ``text`` on the clipboard; False when there is no Qt application."""
    widgets = qt_widgets()
    app = widgets.QApplication.instance() if widgets is not None else None
    if app is None:
        return False
    app.clipboard().setText(text)
    return True


def main_window() -> Optional[Any]:
    """Nuke's active window, the parent for dialogs (None without a Qt application)."""
    widgets = qt_widgets()
    if widgets is None or widgets.QApplication.instance() is None:
        return None
    return widgets.QApplication.activeWindow()
