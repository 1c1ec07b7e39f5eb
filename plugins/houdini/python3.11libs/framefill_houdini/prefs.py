"""The framefill preferences file in Houdini's user folder, and the CLI command it leads to."""

import os
from typing import List

from framefill_host.runner import resolve_cli
from framefill_host.settings import get_python

from framefill_houdini import host_api as hu
from framefill_houdini.paths import clean_env

__all__ = ["SETTINGS_FILE", "settings_path", "cli"]

SETTINGS_FILE = "framefill_houdini.json"


def settings_path() -> str:
    """``$HOUDINI_USER_PREF_DIR/framefill_houdini.json``."""
    return os.path.join(hu.pref_dir(), SETTINGS_FILE)


def cli() -> List[str]:
    """The command that starts framefill: the preference, ``$FRAMEFILL_PYTHON``, or ``framefill`` on PATH.

    Raises:
        HostError: nothing usable configured.
    """
    return resolve_cli(get_python(settings_path()), environ=clean_env(os.environ))
