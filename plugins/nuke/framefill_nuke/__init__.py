"""framefill for Nuke: FF_Interpolate, FF_Upscale and FF_FlowError nodes and a Deadline Cloud submit menu.

Runs on the Python of Nuke 14-16 (3.9 or newer). Modules:

- :mod:`.jobs`: what the nodes do, without Nuke (command lines, bundles, results);
- :mod:`.host_api`: the thin layer of Nuke calls;
- :mod:`.nodes`: the Group nodes, their knobs and the Process button;
- :mod:`.background`: the worker thread and progress bar;
- :mod:`.submit`: the Deadline Cloud menu;
- :mod:`.menus`: what ``menu.py`` installs;
- :mod:`.qt`: PySide6 or PySide2, whichever is present.

Nothing is imported here, so importing the package needs no Nuke.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
