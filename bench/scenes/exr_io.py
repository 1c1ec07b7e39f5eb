"""EXR side of the scene scripts: read Blender's multilayer output, re-pack, write atomically.

Needs numpy + OpenEXR (3.x `OpenEXR.File`) only, not bpy.

Frame layout written here (one single-part scanline EXR, display window = data window):
    R, G, B, A      HALF   beauty, scene-linear Rec.709 (Blender's default working space), denoised
    depth.Z         HALF   planar camera depth in scene units (metres); no geometry -> 65504
    N.X, N.Y, N.Z   HALF   world-space shading normals (Cycles' Normal pass); no geometry -> 0
    IndexOB.X       HALF   object pass_index, exact small integers (0 = no object: the world)

DWA notes (measured with OpenEXR 3.5.3's Python binding): DWA picks its lossy channels by the
name after the LAST dot, so R, G, B and also `N.Y` (taken for luminance "Y") are DCT-compressed;
A is RLE; depth.Z, N.X, N.Z and IndexOB.X stay lossless. The writer ignores a
`dwaCompressionLevel` header attribute (sizes were identical at 45, 80 and 150), so DWA files
always use the library default level, 45.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import OpenEXR
from catalog import SceneScriptError

# Largest finite half. Blender writes 1e10 for "no hit" depth, which overflows HALF to inf, and an
# inf poisons any later bilinear warp (inf * 0 = nan); the largest finite value still reads "far".
HALF_MAX = 65504.0
# The output channels, in the order an EXR lists them (the format sorts channel names).
CHANNELS = ("A", "B", "G", "IndexOB.X", "N.X", "N.Y", "N.Z", "R", "depth.Z")
# HALF holds every integer up to 2048 exactly; object indices beyond that would be rounded.
MAX_EXACT_INDEX = 2048

COMPRESSIONS = {
    "none": OpenEXR.NO_COMPRESSION,
    "zip": OpenEXR.ZIP_COMPRESSION,
    "zips": OpenEXR.ZIPS_COMPRESSION,
    "piz": OpenEXR.PIZ_COMPRESSION,
    "dwaa": OpenEXR.DWAA_COMPRESSION,
    "dwab": OpenEXR.DWAB_COMPRESSION,
}

_BLENDER_PASSES = ("Combined.R", "Combined.G", "Combined.B", "Combined.A", "Depth.Z",
                   "Normal.X", "Normal.Y", "Normal.Z", "Object Index.X")


def read_blender_layers(path: Path) -> dict[str, np.ndarray]:
    """Read Blender's multilayer EXR (one part per pass) into {"Combined.R": H x W float32, ...}.

    Blender 5 writes parts named "<ViewLayer>.<Pass>" holding channels "<ViewLayer>.<Pass>.<C>";
    the result is keyed "<Pass>.<C>" (the view-layer name is dropped). Reading only
    `File.channels()` would see part 0 (Combined) alone: every part is walked here.
    """
    out: dict[str, np.ndarray] = {}
    with OpenEXR.File(str(path), separate_channels=True) as f:
        for part in f.parts:
            for name, ch in part.channels.items():
                pass_name, comp = name.split(".")[-2:]
                out[f"{pass_name}.{comp}"] = np.array(ch.pixels, dtype=np.float32, copy=True)
    return out


def pack_channels(layers: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Map Blender's passes to framefill's channel layout, all HALF.

    layers: H x W float arrays keyed "Combined.R".."Combined.A", "Depth.Z", "Normal.X/Y/Z",
    "Object Index.X". Returns the CHANNELS -> H x W float16. Beauty is clamped to the finite half
    range, depth to [0, 65504] (Blender's 1e10 "no hit" -> 65504), normals to [-1, 1], and the
    object index is rounded to integers.
    Raises SceneScriptError if a pass is missing or an index does not fit HALF exactly.
    """
    missing = [k for k in _BLENDER_PASSES if k not in layers]
    if missing:
        raise SceneScriptError(f"Blender's render lacks passes {missing} (got {sorted(layers)}); "
                               "check the view layer's use_pass_* settings")

    def half(a: np.ndarray, lo: float, hi: float) -> np.ndarray:
        a = np.nan_to_num(np.asarray(a, dtype=np.float32), nan=0.0, posinf=hi, neginf=lo)
        return np.clip(a, lo, hi).astype(np.float16)

    out = {c: half(layers[f"Combined.{c}"], -HALF_MAX, HALF_MAX) for c in "RGBA"}
    out["depth.Z"] = half(layers["Depth.Z"], 0.0, HALF_MAX)
    for c in "XYZ":
        out[f"N.{c}"] = half(layers[f"Normal.{c}"], -1.0, 1.0)
    index = np.rint(np.asarray(layers["Object Index.X"], dtype=np.float32))
    if index.size and (index.max() > MAX_EXACT_INDEX or index.min() < 0):
        raise SceneScriptError(f"object pass indices must lie in 0..{MAX_EXACT_INDEX} to stay exact in HALF; "
                               f"got {index.min():.0f}..{index.max():.0f}")
    out["IndexOB.X"] = index.astype(np.float16)
    return out


def write_exr(path: Path, channels: dict[str, np.ndarray], *, compression: str = "zip",
              attributes: dict[str, object] | None = None) -> None:
    """Write one single-part scanline EXR atomically (temp file beside it, then os.replace).

    channels: name -> H x W float16 or float32 array (all the same shape); the display window
    equals the data window. Fresh header/channel dicts are built on every call because the
    OpenEXR binding rewrites the dicts it is given.
    Raises SceneScriptError for an unknown compression or mismatched shapes.
    """
    if compression not in COMPRESSIONS:
        raise SceneScriptError(f"unknown compression {compression!r}; use one of {', '.join(COMPRESSIONS)}")
    shapes = {np.shape(v) for v in channels.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise SceneScriptError(f"channels must be 2-D arrays of one shape; got {sorted(shapes)}")
    h, w = next(iter(shapes))
    window = ((0, 0), (w - 1, h - 1))
    header: dict[str, object] = {
        "compression": COMPRESSIONS[compression],
        "type": OpenEXR.scanlineimage,
        "dataWindow": window,
        "displayWindow": window,
        "lineOrder": OpenEXR.INCREASING_Y,
        "pixelAspectRatio": 1.0,
    }
    header.update(attributes or {})
    data = {k: np.ascontiguousarray(v) for k, v in channels.items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with OpenEXR.File(header, data) as f:
            f.write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the frame ordinary permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def read_frame(path: Path) -> tuple[dict[str, np.ndarray], dict[str, object]]:
    """All channels of a single-part EXR (name -> H x W array in the file's dtype) and its header.

    Raises SceneScriptError if the file has more than one part.
    """
    with OpenEXR.File(str(path), separate_channels=True) as f:
        if len(f.parts) != 1:
            raise SceneScriptError(f"{path}: {len(f.parts)} parts; framefill scene frames have exactly 1")
        chans = {k: np.array(v.pixels, copy=True) for k, v in f.channels().items()}
        return chans, dict(f.header())
