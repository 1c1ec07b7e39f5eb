"""framefill for Nuke, GUI part: the Nodes toolbar's "framefill" menu and the Render menu's
"Submit to Deadline Cloud (framefill)". Nuke runs this only in GUI sessions, after init.py.
"""

from framefill_nuke import menus

menus.install()
