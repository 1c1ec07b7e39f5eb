"""Houdini file paths as framefill patterns, framefill's outputs beside them, and the environment the CLI gets.

Houdini writes frame numbers as ``$F4`` (zero-padded to 4) or ``$F`` (no
padding), also spelled ``${F4}``; paths hold ``$HIP``, ``$JOB``, ``$HIPNAME``,
``$OS`` and environment variables. framefill reads ``####``. The frame token is
swapped for a placeholder, the rest expanded by Houdini (``hou.expandString``,
passed in as ``expand``), then the placeholder becomes hashes, so the frame is
never expanded to the current one. No ``hou`` import here.
"""

import os
import re
from typing import Callable, Dict, Mapping, Optional

from framefill_host import HostError
from framefill_host.patterns import find_token, to_framefill, to_houdini

__all__ = [
    "FRAME_TOKEN",
    "FILLED_FOLDER",
    "UPSCALED_FOLDER",
    "QC_FOLDER",
    "houdini_to_framefill",
    "pattern_from_pick",
    "framefill_to_houdini",
    "beside",
    "clean_env",
    "onnx_cache_dir",
]

# $F4, $F, ${F4}; not $FPS, $FF, $FSTART or $FEND (a letter or _ follows those).
FRAME_TOKEN = re.compile(r"\$\{F(?P<braced>\d*)\}|\$F(?P<plain>\d*)(?![A-Za-z_0-9])")
_PLACEHOLDER = "FRAMEFILLFRAMETOKEN"
# Folders beside an input sequence where results go by default (as in Nuke).
FILLED_FOLDER = "framefill_filled"
UPSCALED_FOLDER = "framefill_upscaled"
QC_FOLDER = "framefill_qc"
# Variables the package file hands on; "$NAME" left unexpanded means "not set".
_FRAMEFILL_VARS = ("FRAMEFILL_PYTHON", "FRAMEFILL_MODELS", "FRAMEFILL_ONNX_CACHE")


def houdini_to_framefill(raw: str, *, expand: Callable[[str], str], where: str = "the path",
                         node_name: Optional[str] = None) -> str:
    """``$HIP/render/$HIPNAME.$F4.exr`` -> ``/shots/a/render/a.####.exr``.

    ``expand`` is ``hou.expandString``; ``node_name`` replaces ``$OS`` (the
    node's own name, which a global expansion does not know). ``where`` names
    the parameter in errors.

    Raises:
        HostError: no frame token or several, or a variable Houdini left unexpanded.
    """
    text = (raw or "").strip()
    if not text:
        raise HostError("{} is empty; set it to an image sequence such as $HIP/render/shot.$F4.exr".format(where))
    tokens = list(FRAME_TOKEN.finditer(text))
    if len(tokens) != 1:
        if not tokens:
            # A pattern already in another spelling (####, %04d) is fine as is.
            try:
                find_token(text)
            except HostError:
                raise HostError("{} {!r} has no frame number; write it with $F4 (shot.$F4.exr)".format(
                    where, raw)) from None
            return to_framefill(_expand_rest(text, expand, where, raw, node_name))
        raise HostError("{} {!r} has {} frame tokens; keep exactly one $F4".format(where, raw, len(tokens)))
    match = tokens[0]
    padding = int(match.group("braced") or match.group("plain") or 1)
    protected = text[: match.start()] + _PLACEHOLDER + text[match.end():]
    expanded = _expand_rest(protected, expand, where, raw, node_name)
    if expanded.count(_PLACEHOLDER) != 1:
        raise HostError("{} {!r} lost its frame number when expanded; check its variables".format(where, raw))
    return expanded.replace(_PLACEHOLDER, "#" * max(padding, 1))


def _expand_rest(text: str, expand: Callable[[str], str], where: str, raw: str, node_name: Optional[str]) -> str:
    if node_name is not None:
        text = re.sub(r"\$\{OS\}|\$OS(?![A-Za-z_0-9])", lambda _m: node_name, text)
    expanded = expand(text)
    left = re.search(r"\$\{?[A-Za-z_][A-Za-z_0-9]*\}?", expanded)
    if left:
        raise HostError("{} {!r}: Houdini could not expand {}; set that variable or write the path out".format(
            where, raw, left.group(0)))
    return os.path.normpath(expanded) if expanded else expanded


def pattern_from_pick(path: str, *, expand: Callable[[str], str]) -> str:
    """What an artist picked: a pattern (``$F4``, ``####``) as is, or one frame's file (its last digits).

    Raises:
        HostError: nothing picked, or a file name without a frame number.
    """
    text = (path or "").strip()
    if FRAME_TOKEN.search(text):
        return houdini_to_framefill(text, expand=expand, where="the picked file")
    try:
        find_token(text)
        return houdini_to_framefill(text, expand=expand, where="the picked file")
    except HostError:
        pass
    folder, name = os.path.split(expand(text))
    runs = list(re.finditer(r"\d+", name))
    if not runs:
        raise HostError("{} has no frame number; pick one frame of a sequence (shot.1001.exr)".format(path))
    last = runs[-1]
    return os.path.join(folder, name[: last.start()] + "#" * len(last.group()) + name[last.end():])


def framefill_to_houdini(pattern: str) -> str:
    """``/r/shot.####.exr`` -> ``/r/shot.$F4.exr``, for a File COP."""
    return to_houdini(to_framefill(pattern))


def beside(pattern: str, folder: str) -> str:
    """``/r/shot.####.exr`` -> ``/r/<folder>/shot.####.exr``: results next to their input, never over it."""
    head, name = os.path.split(to_framefill(pattern))
    return os.path.join(head, folder, name)


def clean_env(environ: Mapping[str, str]) -> Dict[str, str]:
    """The environment for the CLI: framefill variables the package left as ``$NAME`` (unset) are dropped."""
    env = dict(environ)
    for name in _FRAMEFILL_VARS:
        value = env.get(name)
        if value is not None and (not value.strip() or "$" in value):
            del env[name]
    return env


def onnx_cache_dir(environ: Mapping[str, str]) -> str:
    """Where Copernicus's ONNX exports are cached: ``$FRAMEFILL_ONNX_CACHE`` or ``~/.cache/framefill/houdini_onnx``."""
    value = clean_env(environ).get("FRAMEFILL_ONNX_CACHE")
    if value:
        return os.path.expanduser(value)
    return os.path.join(os.path.expanduser("~"), ".cache", "framefill", "houdini_onnx")
