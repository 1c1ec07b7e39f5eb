"""User preferences of the host adapters, kept in a small JSON file the host chooses.

Today one key matters: ``python``, the interpreter (or ``framefill``
executable) that runs the CLI. A missing or unreadable file reads as no
preferences; writes are atomic (temporary file, then rename).
"""

import json
import os
import tempfile
from typing import Any, Dict, Optional

from framefill_host import HostError

__all__ = ["PYTHON_KEY", "load_settings", "save_settings", "get_python", "set_python"]

PYTHON_KEY = "python"


def load_settings(path: str) -> Dict[str, Any]:
    """The preferences in ``path``; {} when the file is missing, unreadable or not a JSON object."""
    try:
        with open(path, "r", encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_settings(path: str, settings: Dict[str, Any]) -> None:
    """Write ``settings`` to ``path`` atomically (the folder is created).

    Raises:
        HostError: the file cannot be written.
    """
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".framefill-settings-", suffix=".json", dir=folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(settings, handle, indent=2, sort_keys=True)
                handle.write("\n")
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise
    except OSError as err:
        raise HostError("cannot save framefill preferences to {}: {}".format(path, err.strerror or err)) from None


def get_python(path: str) -> Optional[str]:
    """The configured interpreter, or None."""
    value = load_settings(path).get(PYTHON_KEY)
    return value if isinstance(value, str) and value.strip() else None


def set_python(path: str, interpreter: Optional[str]) -> None:
    """Set (or, with None or "", clear) the interpreter preference."""
    settings = load_settings(path)
    if interpreter and interpreter.strip():
        settings[PYTHON_KEY] = interpreter.strip()
    else:
        settings.pop(PYTHON_KEY, None)
    save_settings(path, settings)
