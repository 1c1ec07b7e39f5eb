"""framefill for Nuke: runs in every mode, terminal mode (``nuke -t``) included.

Install: add this folder (``plugins/nuke`` of a framefill checkout or release)
to ``NUKE_PATH``. Nuke then puts it on ``sys.path`` (so ``framefill_nuke``
imports) and runs this file, which adds the shared host client
(``plugins/common``, the ``framefill_host`` package) beside it. Nothing here
needs the GUI, Qt or torch.
"""

import os

import nuke


def _framefill_common_dir():
    """``../common`` next to this folder (a checkout), or ``./common`` inside it (a flat install)."""
    try:
        here = os.path.dirname(os.path.abspath(__file__))
    except NameError:  # some Nuke versions run init.py without __file__
        here = next((p for p in nuke.pluginPath() if os.path.isfile(os.path.join(p, "framefill_nuke", "__init__.py"))),
                    os.getcwd())
    for candidate in (os.path.join(here, "..", "common"), os.path.join(here, "common")):
        if os.path.isfile(os.path.join(candidate, "framefill_host", "__init__.py")):
            return os.path.normpath(candidate)
    return None


_common = _framefill_common_dir()
if _common is None:
    nuke.tprint("framefill: plugins/common (framefill_host) not found next to the Nuke plugin; "
                "the framefill nodes will not load")
else:
    nuke.pluginAddPath(_common)
