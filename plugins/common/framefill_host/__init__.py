"""framefill's host-side client, shared by the Nuke, Houdini and Blender adapters.

A host's own Python often cannot import torch, so the adapters run the
``framefill`` CLI out of process with ``--events`` and follow its JSON lines.
This package holds everything about that which does not depend on a host:

- :mod:`.events`: parse ``--events`` lines and fold them into progress state;
- :mod:`.runner`: find the CLI, run it on argument lists, cancel it (the whole
  process group), turn exit codes and events into one outcome;
- :mod:`.commands`: the command lines the hosts run;
- :mod:`.patterns`: frame-file patterns and frame ranges in Nuke, Houdini,
  Blender and framefill spellings;
- :mod:`.settings`: a small JSON file of user preferences.

Standard library only, Python 3.9 or newer (Nuke 14's Python), no newer
syntax, so a host can import it as is. Nothing here imports a host module.
"""

__all__ = ["__version__", "HostError"]

__version__ = "0.1.0"


class HostError(Exception):
    """A problem a host shows to its user as one line (never a traceback)."""

    def __init__(self, msg: str) -> None:
        super().__init__(msg)
        self.msg = msg
