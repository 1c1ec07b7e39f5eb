"""Frame sequences: patterns (``shot/beauty.####.exr``), frame ranges, discovery and gaps.

A *pattern* names every frame of a shot with one frame token; a path without
a token is a *still*, a one-frame sequence whose frame is ``STILL_FRAME`` (1),
so every command that takes a sequence also takes one image. A *frame range*
is text such as ``1001-1100``, ``1001-1100x2`` (Nuke), ``1001-1100:2`` (OpenJD)
or a comma list of those. Frames are plain ints and may be negative.

Paths may be Windows spellings on any system (``C:\\shots\\a.####.exr``,
``C:/shots/a.####.exr``, ``\\\\server\\share\\a.####.exr``): a text with a drive
letter or a leading ``\\\\`` splits into folder and file name at ``\\`` and ``/``
(:func:`split_folder_name`), so a Linux submitter reads a Windows worker's pattern right.
"""

from __future__ import annotations

import ntpath
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from framefill.atomic import is_temp_name
from framefill.errors import SequenceError

__all__ = [
    "MAX_FRAMES",
    "STILL_FRAME",
    "FramePattern",
    "Sequence",
    "parse_frame_range",
    "format_frame_range",
    "missing_frames",
    "find_sequences",
    "resolve_frames",
    "sequence_pattern_of",
    "split_folder_name",
    "is_windows_spelling",
]

# A 3-hour film at 60 fps is ~650,000 frames; ten million is far past any shot
# and still small enough to hold in memory, so anything larger is a typo
# (e.g. ``1-100000000``) rather than a real request.
MAX_FRAMES = 10_000_000

# Weight of one character against one piece in format_frame_range's packed costs;
# larger than any piece count so that length always decides first.
_PIECE_WEIGHT = 1 << 32

# The frame number of a single image (a path without a frame token): frames count from 1.
STILL_FRAME = 1

RANGE_FORMS = "N, A-B, A-BxN (Nuke), A-B:N (OpenJD), or a comma list of those, e.g. 1001-1100x2,1200"
PATTERN_FORMS = "####, %04d, $F4 or @@@@ (one frame token, e.g. shot/beauty.####.exr)"

_RANGE_ITEM = re.compile(r"^(-?\d+)(?:\s*-\s*(-?\d+)(?:\s*[x:]\s*(-?\d+))?)?$", re.IGNORECASE)

# A file name split around its last run of digits: head, digits, tail.
_LAST_DIGITS = re.compile(r"^((?:.*\D)?)(\d+)(\D*)$", re.DOTALL)

# A Windows path on any system: a drive letter (``C:``) or a UNC start (``\\\\server``).
_WINDOWS_START = re.compile(r"^(?:[A-Za-z]:|\\\\)")

# One frame token. printf: %d, %4d, %04d (not %%); Houdini: $F, $F4; hashes; at-signs.
_TOKEN = re.compile(r"(?P<hash>#+)|(?P<printf>%0?(?P<pw>\d*)d)|(?P<houdini>\$F(?P<hw>\d*))|(?P<at>@+)")


# ---------------------------------------------------------------------------
# Paths
# ---------------------------------------------------------------------------


def is_windows_spelling(path: str | os.PathLike[str]) -> bool:
    """True for a path written the Windows way: a drive letter (``C:\\``, ``C:/``) or a UNC start (``\\\\server``)."""
    return _WINDOWS_START.match(os.fspath(path)) is not None


def split_folder_name(path: str | os.PathLike[str]) -> tuple[str, str]:
    """``(folder, file name)`` of a path as written, on any system: ``a/b.exr`` -> (``a``, ``b.exr``).

    A Windows spelling (:func:`is_windows_spelling`) splits at ``\\`` and ``/`` and keeps
    its drive or share (``\\\\srv\\share\\a.exr`` -> (``\\\\srv\\share\\``, ``a.exr``)), also
    on Linux and macOS; other paths split the way this system does. Nothing is resolved.
    """
    text = os.fspath(path)
    return ntpath.split(text) if is_windows_spelling(text) else os.path.split(text)


def _same_folder(a: str, b: str) -> bool:
    if is_windows_spelling(a) or is_windows_spelling(b):
        return ntpath.normcase(ntpath.normpath(a)) == ntpath.normcase(ntpath.normpath(b))
    return os.path.abspath(a) == os.path.abspath(b)


# ---------------------------------------------------------------------------
# Frame ranges
# ---------------------------------------------------------------------------


def parse_frame_range(text: str) -> tuple[int, ...]:
    """Parse frame-range text into sorted, unique frames.

    Accepts single frames (``1001``, ``-5``), ranges (``1001-1100``, ``-10--5``,
    ``-3-3``), stepped ranges (``1001-1100x2`` Nuke, ``1001-1100:2`` OpenJD; a
    descending range needs a negative step, ``10-1:-1``) and comma lists of
    those with optional spaces (``1, 3, 5-9, 20-30x5``).

    Raises:
        SequenceError: empty or malformed text, a zero step, a descending range
            without a negative step, or more than ``MAX_FRAMES`` frames.
    """
    if not isinstance(text, str) or not text.strip():
        raise SequenceError(f"empty frame range {text!r}; use {RANGE_FORMS}")
    items: list[tuple[int, int, int]] = []
    total = 0
    for raw in text.split(","):
        item = raw.strip()
        match = _RANGE_ITEM.match(item)
        if not match:
            raise SequenceError(f"bad frame range {text!r} (at {item!r}); use {RANGE_FORMS}")
        start = int(match.group(1))
        end = int(match.group(2)) if match.group(2) is not None else start
        if match.group(3) is None and end < start:
            raise SequenceError(
                f"bad frame range {text!r}: {item!r} runs backwards; write it {end}-{start} "
                f"or give a negative step ({start}-{end}:-1)"
            )
        step = int(match.group(3)) if match.group(3) is not None else 1
        if step == 0:
            raise SequenceError(f"bad frame range {text!r}: step 0 in {item!r}; use a step of 1 or more")
        if (end - start) * step < 0:
            raise SequenceError(f"bad frame range {text!r}: the step of {item!r} points away from its end")
        count = (end - start) // step + 1
        total += count
        if total > MAX_FRAMES:
            raise SequenceError(
                f"frame range {text!r} has more than {MAX_FRAMES:,} frames; check for a typo"
            )
        lo, hi = (start, end) if step > 0 else (start + (count - 1) * step, start)
        items.append((lo, hi, abs(step)))
    if len(items) == 1:
        lo, hi, step = items[0]
        return tuple(range(lo, hi + 1, step))
    frames: set[int] = set()
    for lo, hi, step in items:
        frames.update(range(lo, hi + 1, step))
    return tuple(sorted(frames))


def format_frame_range(frames: Iterable[int], *, style: Literal["openjd", "nuke"] = "openjd") -> str:
    """The shortest frame-range text that parses back to exactly ``frames``.

    Pieces follow frame order (each piece is a run of the sorted frames with a
    constant step), so ``{1,3,5,7}`` gives ``1-7:2`` (``1-7x2`` in Nuke style)
    and ``{1,2,3,5}`` gives ``1-3,5``. Among equally short texts the one with
    fewer pieces wins, so ``{1,2}`` gives ``1-2``. The search is an exact
    dynamic programme in linear time (170,000 frames take well under a second).

    Raises:
        SequenceError: ``style`` is not "openjd" or "nuke".
    """
    if style not in ("openjd", "nuke"):
        raise SequenceError(f"unknown frame-range style {style!r}; use 'openjd' or 'nuke'")
    f = sorted(set(int(x) for x in frames))
    n = len(f)
    if n == 0:
        return ""
    sep = ":" if style == "openjd" else "x"
    lens = [len(str(x)) for x in f]
    # Costs are packed as chars * _PIECE_WEIGHT + pieces so that one int
    # comparison orders by length first, then by fewer pieces.
    # best[k]: cost of writing f[:k], each piece counted with its comma;
    # came[k]: start index of the last piece in that writing.
    w = _PIECE_WEIGHT
    best = [0] * (n + 1)
    came = [0] * (n + 1)
    # Over the current run of equal differences (which starts at f[r]):
    # min over i in [r, j-2] of best[i] + lens[i] * w, and its i (-1: none yet).
    run_best = -1
    run_best_i = -1
    prev_diff = None
    for j in range(n):  # the last piece ends at f[j]; this fills best[j + 1]
        lj = lens[j]
        cand = best[j] + (lj + 1) * w + 1  # "f[j]" on its own
        choice = j
        if j >= 1:
            diff = f[j] - f[j - 1]
            if diff == prev_diff:
                i = j - 2
                v = best[i] + lens[i] * w
                if run_best < 0 or v < run_best:
                    run_best, run_best_i = v, i
            else:
                run_best, run_best_i, prev_diff = -1, -1, diff
            if run_best_i >= 0:  # "a-b" or "a-b:s" over 3+ frames
                step_len = 0 if diff == 1 else 1 + len(str(diff))
                c = run_best + (2 + lj + step_len) * w + 1
                if c < cand:
                    cand, choice = c, run_best_i
            if diff == 1:  # two consecutive frames: "a-b" is as short as "a,b" and one piece
                c = best[j - 1] + (lens[j - 1] + 2 + lj) * w + 1
                if c < cand:
                    cand, choice = c, j - 1
        best[j + 1] = cand
        came[j + 1] = choice
    pieces: list[str] = []
    k = n
    while k > 0:
        i = came[k]
        a, b = f[i], f[k - 1]
        if i == k - 1:
            pieces.append(str(a))
        else:
            step = f[i + 1] - f[i]
            pieces.append(f"{a}-{b}" if step == 1 else f"{a}-{b}{sep}{step}")
        k = i
    return ",".join(reversed(pieces))


def missing_frames(present: Iterable[int], expected: Iterable[int]) -> tuple[int, ...]:
    """Frames of ``expected`` that are not in ``present``, sorted."""
    have = set(present)
    return tuple(sorted({int(x) for x in expected} - have))


# ---------------------------------------------------------------------------
# Patterns
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FramePattern:
    """A frame-file pattern: ``prefix`` + the frame number padded to ``padding`` + ``suffix``.

    ``prefix`` holds the folder too (``shot/beauty.``). Frame numbers follow
    printf ``%0Nd``: padding counts the sign, so padding 4 writes -1 as ``-001``,
    and numbers that need more digits than the padding use them (``10000``).

    ``still``: one image without a frame token (``beauty.exr``): ``prefix`` is
    its whole path, and it holds frame ``STILL_FRAME`` only.
    """

    prefix: str
    padding: int
    suffix: str
    still: bool = False

    def __post_init__(self) -> None:
        if self.padding < 1:
            raise SequenceError(f"padding must be 1 or more, got {self.padding}")

    # -- construction -------------------------------------------------------

    @classmethod
    def parse(cls, text: str | os.PathLike[str]) -> FramePattern:
        """Parse ``shot/beauty.####.exr``, ``%04d``/``%d``, ``$F4``/``$F`` or ``@@@@`` forms.

        A path without a frame token is a still (one image, frame ``STILL_FRAME``).
        The token must be in the file name; a Windows spelling (``C:\\shots\\a.####.exr``)
        splits at its backslashes on any system (see :func:`split_folder_name`).

        Raises:
            SequenceError: an empty path, more than one frame token, or one in a folder name.
        """
        text = os.fspath(text)
        tokens = [m for m in _TOKEN.finditer(text) if not _escaped_percent(text, m.start())]
        if not tokens and text.strip():
            return cls(text, 1, "", still=True)
        if len(tokens) != 1:
            what = "no frame token" if not tokens else f"{len(tokens)} frame tokens"
            raise SequenceError(f"pattern {text!r} has {what}; it needs exactly one of {PATTERN_FORMS}")
        m = tokens[0]
        name_start = len(text) - len(split_folder_name(text)[1])
        if m.start() < name_start:
            raise SequenceError(f"pattern {text!r} has its frame token {m.group(0)!r} in a folder name; put it in "
                                f"the file name, e.g. shot/beauty.####.exr")
        if m.group("hash"):
            padding = len(m.group("hash"))
        elif m.group("at"):
            padding = len(m.group("at"))
        elif m.group("printf"):
            padding = int(m.group("pw") or 1)
        else:
            padding = int(m.group("hw") or 1)
        return cls(text[: m.start()], max(padding, 1), text[m.end() :])

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> FramePattern:
        """Guess the pattern from one concrete frame file: ``shot.1001.exr`` -> ``shot.####.exr``.

        The frame is the last run of digits before the extension; its length is
        the padding.

        Raises:
            SequenceError: the file name has no digits to take as a frame number.
        """
        text = os.fspath(path)
        name = split_folder_name(text)[1]
        split = _split_frame_name(name)
        if split is None:
            raise SequenceError(
                f"cannot tell the frame number in {text!r}; give a pattern with {PATTERN_FORMS}"
            )
        head, digits, tail = split
        return cls(text[: len(text) - len(name)] + head, len(digits), tail)

    # -- formatting ---------------------------------------------------------

    def format_frame(self, frame: int) -> str:
        """The frame number as it appears in file names (printf ``%0{padding}d``)."""
        return f"{int(frame):0{self.padding}d}"

    def path(self, frame: int) -> str:
        """The file path of ``frame``.

        Raises:
            SequenceError: a still asked for a frame other than ``STILL_FRAME``.
        """
        if self.still:
            if frame != STILL_FRAME:
                name = self.name_prefix
                stem, ext = os.path.splitext(name)
                stem = self.prefix[: len(self.prefix) - len(name)] + stem
                raise SequenceError(
                    f"{self.prefix} is one image (no frame token), which holds one frame, not frame {frame}: "
                    f"give a pattern such as {stem}.####{ext} for a sequence")
            return self.prefix
        return f"{self.prefix}{self.format_frame(frame)}{self.suffix}"

    def as_hashes(self) -> str:
        """``shot.####.exr`` (a still: its path)."""
        return self.prefix if self.still else f"{self.prefix}{'#' * self.padding}{self.suffix}"

    def as_printf(self) -> str:
        """``shot.%04d.exr`` (``%d`` for padding 1; a still: its path)."""
        token = "%d" if self.padding == 1 else f"%0{self.padding}d"
        return self.prefix if self.still else f"{self.prefix}{token}{self.suffix}"

    def as_houdini(self) -> str:
        """``shot.$F4.exr`` (``$F`` for padding 1; a still: its path)."""
        token = "$F" if self.padding == 1 else f"$F{self.padding}"
        return self.prefix if self.still else f"{self.prefix}{token}{self.suffix}"

    def __str__(self) -> str:
        return self.as_hashes()

    @property
    def folder(self) -> Path:
        """The folder that holds the frames (the current folder for a bare name)."""
        return Path(split_folder_name(self.prefix)[0] or ".")

    @property
    def name_prefix(self) -> str:
        """The file-name part of ``prefix``: ``beauty.`` for ``shot/beauty.`` (and ``C:\\shot\\beauty.``)."""
        return split_folder_name(self.prefix)[1]

    # -- matching -----------------------------------------------------------

    def frame_of(self, path_or_name: str | os.PathLike[str]) -> int | None:
        """The frame number of a file of this pattern, or None if it is not one.

        A bare name is matched against the file-name part of the pattern; a path
        with a folder must match the whole pattern. The digits must be exactly
        how :meth:`format_frame` writes that number (``0001`` for padding 4, not
        ``001`` or ``00001``).
        """
        folder, name = split_folder_name(path_or_name)
        if folder and not _same_folder(folder, str(self.folder)):
            return None
        return self._frame_of_name(name)

    def _frame_of_name(self, name: str) -> int | None:
        if self.still:
            return STILL_FRAME if name == self.name_prefix else None
        match = self._name_regex().match(name)
        if match is None:
            return None
        digits = match.group(1)
        frame = int(digits)
        return frame if self.format_frame(frame) == digits else None

    def _name_regex(self) -> re.Pattern[str]:
        # Compiled once per pattern (re caches by text, so this stays cheap).
        return re.compile(f"^{re.escape(self.name_prefix)}(-?[0-9]+){re.escape(self.suffix)}$")

    def scan(self) -> dict[int, Path]:
        """Frames of this pattern present on disk, in frame order.

        framefill's temporary files and names whose digits break the padding
        rule (see :meth:`frame_of`) are ignored; a missing folder gives ``{}``.

        Raises:
            SequenceError: the folder exists but cannot be listed.
        """
        if self.still:
            return {STILL_FRAME: Path(self.prefix)} if os.path.isfile(self.prefix) else {}
        try:
            files = self._files_like_frames()
        except (FileNotFoundError, NotADirectoryError):
            return {}
        except OSError as err:
            raise SequenceError(f"cannot list {self.folder} for {self}: {err.strerror or err}") from None
        found = {int(digits): name for digits, name in files if self.format_frame(int(digits)) == digits}
        return {frame: self.folder / found[frame] for frame in sorted(found)}

    def strays(self) -> list[Path]:
        """Files beside the frames that fit the pattern but for their padding, sorted.

        For ``shot.####.exr`` these are ``shot.01001.exr`` or ``shot.001.exr``:
        :meth:`scan` skips them (their digits are not how this pattern writes
        a frame number), so a job would silently leave them out. A pipeline
        warns about each with :meth:`stray_warning`. Temporaries, folders and
        hidden files are not listed; a missing or unreadable folder gives ``[]``.
        """
        if self.still:
            return []
        try:
            files = self._files_like_frames()
        except OSError:
            return []
        return sorted(self.folder / name for digits, name in files if self.format_frame(int(digits)) != digits)

    def _files_like_frames(self) -> list[tuple[str, str]]:
        """(digits, file name) of the regular files whose name fits the pattern with any padding.

        Raises:
            OSError: the folder cannot be listed.
        """
        regex = self._name_regex()
        out = []
        with os.scandir(self.folder) as entries:
            listed = list(entries)
        for entry in listed:
            match = regex.match(entry.name)
            if match is None or is_temp_name(entry.name):
                continue
            try:
                if entry.is_file():
                    out.append((match.group(1), entry.name))
            except OSError:
                continue
        return out

    def stray_warning(self, path: str | os.PathLike[str]) -> str:
        """One line about a file from :meth:`strays`: its padding, the pattern's, and the two fixes.

        ``shot.01001.exr has 5-digit padding; the pattern shot.####.exr uses 4 and skips it:
        rename it to shot.1001.exr or use shot.#####.exr``
        """
        name = split_folder_name(path)[1]
        match = self._name_regex().match(name)
        if match is None:
            return f"{name} does not fit the pattern {self}"
        digits = match.group(1)
        width = len(digits)
        other = FramePattern(self.prefix, width, self.suffix)
        renamed = split_folder_name(self.path(int(digits)))[1]
        return (
            f"{name} has {width}-digit padding; the pattern {split_folder_name(str(self))[1]} uses {self.padding} "
            f"and skips it: rename it to {renamed} or use {split_folder_name(str(other))[1]}"
        )


def _escaped_percent(text: str, index: int) -> bool:
    """True when the ``%`` at ``index`` is the second half of a ``%%`` escape."""
    count = 0
    while index - 1 - count >= 0 and text[index - 1 - count] == "%":
        count += 1
    return text[index] == "%" and count % 2 == 1


# Characters that may stand right before a frame number (or the start of the name).
_FRAME_SEPARATORS = "._- "


def sequence_pattern_of(path: str | os.PathLike[str]) -> FramePattern | None:
    """The pattern of the sequence ``path`` is a frame of, or None when its name has no frame number.

    Stricter than :meth:`FramePattern.from_file`, for telling a frame from a
    still: the last digit run is a frame number only when a separator
    (``.``, ``_``, ``-`` or a space) or the start of the name stands before
    it and the extension (or a separator) follows it. ``shot.1001.exr``,
    ``shot_1001.exr`` and ``0001.png`` are frames; ``Rec709.exr``,
    ``shot_v002.exr``, ``plate_2k.exr`` and ``beauty.exr`` are stills. A
    sequence whose numbers are glued to letters (Blender's ``beauty0001.exr``)
    is reached through its pattern, ``beauty####.exr``.
    """
    text = os.fspath(path)
    name = split_folder_name(text)[1]
    split = _split_frame_name(name)
    if split is None:
        return None
    head, digits, tail = split
    if head and head[-1] not in _FRAME_SEPARATORS and not digits.startswith("-"):
        return None
    if tail and tail[0] not in _FRAME_SEPARATORS:
        return None
    return FramePattern(text[: len(text) - len(name)] + head, len(digits), tail)


def _split_frame_name(name: str) -> tuple[str, str, str] | None:
    """``shot.1001.exr`` -> (``shot.``, ``1001``, ``.exr``); None without digits.

    The frame is the last digit run of the name, so it sits before the
    extension. A '-' right before the digits counts as a sign only after a
    '.' or '_' or at the very start (``shot.-001.exr``, not ``shot-1001.exr``).
    """
    match = _LAST_DIGITS.match(name)
    if match is None:
        return None
    head, digits, tail = match.group(1), match.group(2), match.group(3)
    if head.endswith("-") and (len(head) == 1 or head[-2] in "._"):
        head, digits = head[:-1], "-" + digits
    return head, digits, tail


# ---------------------------------------------------------------------------
# Sequences
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Sequence:
    """Frames of one pattern present on disk, sorted."""

    pattern: FramePattern
    frames: tuple[int, ...]

    @property
    def first(self) -> int | None:
        return self.frames[0] if self.frames else None

    @property
    def last(self) -> int | None:
        return self.frames[-1] if self.frames else None

    @property
    def missing(self) -> tuple[int, ...]:
        """Gaps between the first and the last frame."""
        if not self.frames:
            return ()
        return missing_frames(self.frames, range(self.frames[0], self.frames[-1] + 1))

    def __str__(self) -> str:
        return f"{self.pattern} [{format_frame_range(self.frames)}]"

    @staticmethod
    def find_sequences(folder: str | os.PathLike[str]) -> list[Sequence]:
        """Same as :func:`find_sequences`."""
        return find_sequences(folder)


def find_sequences(folder: str | os.PathLike[str]) -> list[Sequence]:
    """Every frame sequence in ``folder`` (not recursive), sorted by pattern.

    Files group by the text around their last digit run; hidden files and
    framefill temporaries are skipped. The padding is the length of numbers
    written with leading zeros, else of the shortest number; numbers that
    cannot share one padding form separate sequences.

    Raises:
        SequenceError: ``folder`` is not a readable folder.
    """
    root = Path(folder)
    try:
        entries = list(os.scandir(root))
    except OSError as err:
        raise SequenceError(f"cannot list folder {root}: {err.strerror or err}") from None
    groups: dict[tuple[str, str], list[str]] = {}
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            if not entry.is_file():
                continue
        except OSError:  # vanished or unreadable entry: not a frame we can use
            continue
        split = _split_frame_name(entry.name)
        if split is None:
            continue
        head, digits, tail = split
        groups.setdefault((head, tail), []).append(digits)
    found: list[Sequence] = []
    for (head, tail), numbers in groups.items():
        remaining = sorted(set(numbers))
        while remaining:
            zero_padded = [len(s) for s in remaining if _unsigned(s).startswith("0") and len(_unsigned(s)) > 1]
            padding = min(zero_padded) if zero_padded else min(len(s) for s in remaining)
            pattern = FramePattern(str(root / head), padding, tail)
            taken = [s for s in remaining if pattern.format_frame(int(s)) == s]
            if not taken:  # cannot happen with the rule above; guard against looping
                break
            found.append(Sequence(pattern, tuple(sorted(int(s) for s in taken))))
            taken_set = set(taken)
            remaining = [s for s in remaining if s not in taken_set]
    return sorted(found, key=lambda s: (str(s.pattern), s.frames))


def _unsigned(digits: str) -> str:
    return digits[1:] if digits.startswith("-") else digits


def resolve_frames(pattern: FramePattern | str, frames_text: str | None) -> tuple[int, ...]:
    """The frames to work on: ``frames_text`` parsed, or else the frames found on disk.

    Raises:
        SequenceError: bad range text, or no range given and no frames on disk.
    """
    pat = pattern if isinstance(pattern, FramePattern) else FramePattern.parse(pattern)
    if frames_text is not None and frames_text.strip():
        return parse_frame_range(frames_text)
    on_disk = pat.scan()
    if not on_disk:
        raise SequenceError(
            f"no frames of {pat} on disk; check the folder and the padding (number of #), or pass a frame range"
        )
    return tuple(on_disk)
