"""What an EXR channel holds, judged from its name: colour, alpha, ID, or data.

Fill and upscale treat channels by kind. Colour and alpha are blended or
filtered like images; data passes (depth, normals, motion, position) are
smoothly resampled; ID-like channels (object/material index, cryptomatte) are
never blended: every output pixel takes one source value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Literal

__all__ = ["ChannelKind", "channel_kind", "split_channel", "find_beauty", "BEAUTY_LAYER_NAMES"]

ChannelKind = Literal["color", "alpha", "id", "data"]

# Layers that hold the beauty when there is no bare R,G,B (Nuke "rgba", Blender
# "Combined", common renderer names).
BEAUTY_LAYER_NAMES = ("rgba", "beauty", "combined", "main", "rgb", "color", "colour")

_ID_PATTERNS = re.compile(
    r"(^|[._\s])(crypto\w*|cryptomatte\w*|index\w*|indexob|indexma|objectid|object_?id|materialid|material_?id|"
    r"id|ids|instanceid|instance_?id|matte_?id|prim_?id|element_?id)($|[._\s])",
    re.IGNORECASE,
)
_DATA_LAYERS = re.compile(
    r"^(depth|z|zdepth|n|normal|normals|p|position|pref|uv|motion|vector|velocity|forward|backward|mv|"
    r"ao|st|disparity|ndc|world_?position|world_?normal)$",
    re.IGNORECASE,
)


def split_channel(name: str) -> tuple[str, str]:
    """``diffuse.R`` -> (``diffuse``, ``R``); ``R`` -> ("", ``R``); layers may nest (``a.b.R``)."""
    layer, _, channel = name.rpartition(".")
    return layer, channel


def channel_kind(name: str) -> ChannelKind:
    """Classify one full channel name."""
    layer, channel = split_channel(name)
    if _ID_PATTERNS.search(name):
        return "id"
    if layer and _DATA_LAYERS.match(layer.split(".")[-1]):
        return "data"
    if not layer and channel.upper() == "Z":
        return "data"
    if channel.upper() in ("A", "ALPHA"):
        return "alpha"
    return "color"


def find_beauty(channel_names: Sequence[str] | Iterable[str]) -> tuple[str, str, str] | None:
    """The R, G, B channel names of the beauty, or None.

    Bare ``R,G,B`` win; then a known beauty layer (``rgba.red`` style names are
    not used by EXR writers we know of, so only R/G/B suffixes count); then the
    first layer that has all three.
    """
    names = list(channel_names)
    present = set(names)
    if {"R", "G", "B"} <= present:
        return ("R", "G", "B")
    layers: dict[str, set[str]] = {}
    for name in names:
        layer, channel = split_channel(name)
        if layer:
            layers.setdefault(layer, set()).add(channel)
    rgb_layers = [layer for layer, chans in layers.items() if {"R", "G", "B"} <= chans]
    if not rgb_layers:
        return None

    def preference(layer: str) -> tuple[int, int]:
        last = layer.split(".")[-1].lower()
        known = BEAUTY_LAYER_NAMES.index(last) if last in BEAUTY_LAYER_NAMES else len(BEAUTY_LAYER_NAMES)
        return (known, names.index(f"{layer}.R"))

    best = min(rgb_layers, key=preference)
    return (f"{best}.R", f"{best}.G", f"{best}.B")
