"""The ``framefill`` sub-commands, one module per command group.

Importing this package registers every command on ``framefill.cli.cli``. The
modules import heavy things (torch, the pipelines) only inside command bodies.
"""

from importlib import import_module

_COMMAND_MODULES = ("info", "models", "interpolate", "upscale", "qc", "plan", "demo", "farm", "export", "review",
                    "patch", "colorspaces")

for _name in _COMMAND_MODULES:
    import_module(f"{__name__}.{_name}")
