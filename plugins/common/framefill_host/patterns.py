"""Frame-file patterns and frame ranges in the spellings of Nuke, Houdini, Blender and framefill.

Patterns: framefill reads ``####`` (hashes give the padding), ``%04d``/``%d``,
``$F4``/``$F`` and ``@@@@``; Nuke writes ``####`` or ``%04d``; Houdini
``$F4``; Blender ``####``. Every function here finds the single frame token,
keeps everything else byte for byte, and converts the token.

Ranges: framefill reads ``1001-1100``, ``1001-1100x2`` (Nuke), ``1001-1100:2``
(OpenJD), comma lists and negative frames (``-10--5``); Nuke's frame-range
fields separate pieces with spaces (``1-10 20-30x2``). Formatting writes the
shortest text, one run of constant step a piece.

These mirror ``framefill.frames.sequence`` without importing it (a host's
Python cannot import the core); a unit test holds the two in agreement.
"""

import re
from typing import Iterable, List, Optional, Sequence, Tuple

from framefill_host import HostError

__all__ = [
    "PatternToken",
    "find_token",
    "to_framefill",
    "to_nuke",
    "to_houdini",
    "frame_path",
    "parse_range",
    "format_range",
    "nuke_range_to_framefill",
    "framefill_range_to_nuke",
    "first_last_range",
]

# A % that is doubled (%%) is a literal percent sign in printf patterns.
_TOKEN = re.compile(r"(?P<hash>#+)|(?P<printf>%0?(?P<pw>\d*)d)|(?P<houdini>\$F(?P<hw>\d*))|(?P<at>@+)")
_RANGE_ITEM = re.compile(r"^(-?\d+)(?:\s*-\s*(-?\d+)(?:\s*[x:]\s*(-?\d+))?)?$", re.IGNORECASE)
# A typo guard shared with the core: no real shot has more frames.
MAX_FRAMES = 1_000_000


class PatternToken:
    """The frame token of a pattern: where it sits and its padding (1 = none)."""

    __slots__ = ("start", "end", "padding")

    def __init__(self, start: int, end: int, padding: int) -> None:
        self.start = start
        self.end = end
        self.padding = padding


def _escaped_percent(text: str, index: int) -> bool:
    """True when the % at ``index`` follows an odd number of % (so it is a literal)."""
    count = 0
    i = index - 1
    while i >= 0 and text[i] == "%":
        count += 1
        i -= 1
    return count % 2 == 1


def find_token(pattern: str) -> PatternToken:
    """The one frame token of ``pattern``.

    Raises:
        HostError: no frame token, or more than one.
    """
    tokens = [m for m in _TOKEN.finditer(pattern) if not (m.group("printf") and _escaped_percent(pattern, m.start()))]
    if len(tokens) != 1:
        what = "no frame token" if not tokens else "{} frame tokens".format(len(tokens))
        raise HostError(
            "file pattern {!r} has {}; it needs exactly one of ####, %04d, $F4 or @@@@".format(pattern, what)
        )
    m = tokens[0]
    if m.group("hash"):
        padding = len(m.group("hash"))
    elif m.group("at"):
        padding = len(m.group("at"))
    elif m.group("printf"):
        padding = int(m.group("pw") or 1)
    else:
        padding = int(m.group("hw") or 1)
    return PatternToken(m.start(), m.end(), max(padding, 1))


def _replace(pattern: str, token_text: str) -> str:
    tok = find_token(pattern)
    return pattern[: tok.start] + token_text + pattern[tok.end :]


def to_framefill(pattern: str) -> str:
    """Any host spelling -> framefill's canonical hashes: ``shot.%04d.exr`` -> ``shot.####.exr``."""
    return _replace(pattern, "#" * find_token(pattern).padding)


def to_nuke(pattern: str, *, style: str = "hash") -> str:
    """A pattern as Nuke's file knobs write it: ``####`` (style "hash") or ``%04d`` (style "printf").

    Raises:
        HostError: no single frame token, or an unknown style.
    """
    padding = find_token(pattern).padding
    if style == "hash":
        return _replace(pattern, "#" * padding)
    if style == "printf":
        return _replace(pattern, "%d" if padding == 1 else "%0{}d".format(padding))
    raise HostError("unknown Nuke pattern style {!r}; use 'hash' or 'printf'".format(style))


def to_houdini(pattern: str) -> str:
    """``shot.####.exr`` -> ``shot.$F4.exr`` (``$F`` for no padding)."""
    padding = find_token(pattern).padding
    return _replace(pattern, "$F" if padding == 1 else "$F{}".format(padding))


def frame_path(pattern: str, frame: int) -> str:
    """The file of one frame (printf ``%0Nd``: the padding counts the sign, as the core writes)."""
    tok = find_token(pattern)
    return pattern[: tok.start] + "{:0{}d}".format(int(frame), tok.padding) + pattern[tok.end :]


# --------------------------------------------------------------------------- ranges


def parse_range(text: str) -> List[int]:
    """Frame-range text -> sorted unique frames.

    Accepts ``1001``, ``1001-1100``, ``1001-1100x2``, ``1001-1100:2``,
    ``-10--5``, ``10-1:-1`` and lists of those separated by commas or (Nuke)
    spaces.

    Raises:
        HostError: empty or malformed text, a zero step, a range that runs
            backwards without a negative step, or more than a million frames.
    """
    if not isinstance(text, str) or not text.strip():
        raise HostError("empty frame range {!r}; use e.g. 1001-1100, 1001-1100x2 or 1,5,9-12".format(text))
    frames = set()
    for item in _range_items(text):
        match = _RANGE_ITEM.match(item)
        if not match:
            raise HostError("bad frame range {!r} (at {!r}); use e.g. 1001-1100, 1001-1100x2 or 1,5,9-12".format(
                text, item))
        start = int(match.group(1))
        end = int(match.group(2)) if match.group(2) is not None else start
        step = int(match.group(3)) if match.group(3) is not None else 1
        if step == 0:
            raise HostError("bad frame range {!r}: step 0 in {!r}".format(text, item))
        if match.group(3) is None and end < start:
            raise HostError("bad frame range {!r}: {!r} runs backwards; write it {}-{}".format(text, item, end, start))
        if (end - start) * step < 0:
            raise HostError("bad frame range {!r}: the step of {!r} points away from its end".format(text, item))
        count = (end - start) // step + 1
        if len(frames) + count > MAX_FRAMES:
            raise HostError("frame range {!r} has more than {:,} frames; check for a typo".format(text, MAX_FRAMES))
        frames.update(range(start, end + (1 if step > 0 else -1), step))
    return sorted(frames)


# A space before a minus sign but none after it starts a negative frame of a Nuke list ("-20 -7").
_LIST_BEFORE_NEGATIVE = re.compile(r"\d\s+-\S")


def _range_items(text: str) -> List[str]:
    """Split on commas; a comma piece that is not one item (``1 - 5`` is) splits on spaces (Nuke's lists)."""
    items: List[str] = []
    for chunk in text.split(","):
        piece = chunk.strip()
        if _RANGE_ITEM.match(piece) and not _LIST_BEFORE_NEGATIVE.search(piece):
            items.append(piece)
        else:
            items.extend(piece.split())
    return items


def _runs(frames: Sequence[int]) -> List[Tuple[int, int, int]]:
    """Split sorted unique frames into runs (first, last, step); greedy, short pieces as singles."""
    runs: List[Tuple[int, int, int]] = []
    i = 0
    n = len(frames)
    while i < n:
        if i + 1 < n:
            step = frames[i + 1] - frames[i]
            j = i + 1
            while j + 1 < n and frames[j + 1] - frames[j] == step:
                j += 1
            # A stepped run needs three frames to be shorter than a list; step 1 needs two.
            if step == 1 or j - i >= 2:
                runs.append((frames[i], frames[j], step))
                i = j + 1
                continue
        runs.append((frames[i], frames[i], 1))
        i += 1
    return runs


def format_range(frames: Iterable[int], *, style: str = "framefill") -> str:
    """Frames -> range text that parses back to exactly them.

    ``style``: "framefill" (``1-7:2,10``, what the CLI and OpenJD read) or
    "nuke" (``1-7x2 10``, what Nuke's frame-range fields read).

    Raises:
        HostError: an unknown style.
    """
    if style not in ("framefill", "nuke"):
        raise HostError("unknown frame-range style {!r}; use 'framefill' or 'nuke'".format(style))
    ordered = sorted(set(int(f) for f in frames))
    step_sep, piece_sep = (":", ",") if style == "framefill" else ("x", " ")
    pieces = []
    for first, last, step in _runs(ordered):
        if first == last:
            pieces.append(str(first))
        elif step == 1:
            pieces.append("{}-{}".format(first, last))
        else:
            pieces.append("{}-{}{}{}".format(first, last, step_sep, step))
    return piece_sep.join(pieces)


def nuke_range_to_framefill(text: str) -> str:
    """``1001-1100x2 1200`` (Nuke) -> ``1001-1099:2,1200`` (framefill)."""
    return format_range(parse_range(text), style="framefill")


def framefill_range_to_nuke(text: str) -> str:
    """``1001-1100:2,1200`` (framefill) -> ``1001-1099x2 1200`` (Nuke)."""
    return format_range(parse_range(text), style="nuke")


def first_last_range(first: int, last: int, step: Optional[int] = None) -> str:
    """A Read node's ``first``/``last`` knobs as framefill range text (``1001-1100``).

    Raises:
        HostError: last before first, or a step under 1.
    """
    first, last = int(first), int(last)
    if last < first:
        raise HostError("frame range {}-{} runs backwards; check the Read's first and last frames".format(first, last))
    if step is not None and int(step) < 1:
        raise HostError("frame step must be 1 or more, got {}".format(step))
    if first == last:
        return str(first)
    if step is None or int(step) == 1:
        return "{}-{}".format(first, last)
    return "{}-{}:{}".format(first, last, int(step))
