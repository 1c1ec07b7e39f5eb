"""PNG, TIFF and JPEG frames (8 and 16 bit) through OpenCV, as float RGB(A) in [0, 1].

OpenCV is imported inside the functions so that importing framefill stays light.
Files are decoded from bytes (``cv2.imdecode``), which also handles non-ASCII
paths on Windows, and written atomically.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import numpy as np

from framefill.atomic import atomic_write_bytes
from framefill.errors import InputError
from framefill.frames._files import (
    FORMAT_EXTENSIONS,
    file_problem,
    read_problem,
    sniff_bytes,
)

__all__ = ["read_image", "write_image", "IMAGE_EXTENSIONS", "JPEG_QUALITY"]

IMAGE_EXTENSIONS = (".png", ".tif", ".tiff", ".jpg", ".jpeg")
# High enough that 8-bit JPEG round trips stay within a few code values,
# the usual choice for review media.
JPEG_QUALITY = 95

_MAX_CODE = {8: 255, 16: 65535}
_CV_LOG_SILENT = 0  # cv2.utils.logging.LOG_LEVEL_SILENT


def _cv2() -> Any:
    import cv2

    return cv2


def read_image(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """Read a PNG/TIFF/JPEG file as float32 RGB(A) in [0, 1] and its bit depth.

    Returns an array of shape (H, W, C), C = 1 (grey), 3 (RGB) or 4 (RGBA) in
    that channel order, in the file's own encoding (usually sRGB; no colour
    conversion), plus 8 or 16. Float TIFFs come back unscaled with bit depth 32.

    Raises:
        InputError: missing, unreadable or unsupported file.
    """
    p = Path(path)
    problem = file_problem(p)
    if problem is not None:
        raise InputError(f"cannot read image {p}: {problem}")
    try:
        data = np.fromfile(p, dtype=np.uint8)
    except OSError as err:
        raise InputError(f"cannot read image {p}: {read_problem(p, err)}") from None
    kind = sniff_bytes(data[:8].tobytes())
    if kind == "exr":  # OpenCV's EXR codec is off (and would lose channels): say what it is
        raise InputError(f"cannot read image {p}: it is an OpenEXR file, despite its name; rename it to {p.stem}.exr")
    cv2 = _cv2()
    img = None
    if data.size:
        # OpenCV logs its own warning for broken files; the InputError below says it once.
        level = cv2.getLogLevel()
        cv2.setLogLevel(_CV_LOG_SILENT)
        try:
            img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
        except cv2.error:  # a codec that is built in but disabled, or one that throws on bad data
            img = None
        finally:
            cv2.setLogLevel(level)
    if img is None:
        if kind is not None and FORMAT_EXTENSIONS[kind] != _canonical(p.suffix):
            raise InputError(f"cannot read image {p}: it is a {kind.upper()} file, despite its name, "
                             f"and could not be decoded; rename it to {p.stem}{FORMAT_EXTENSIONS[kind]} or re-export it")
        if kind is not None:
            raise InputError(f"cannot read image {p}: a damaged or truncated {kind.upper()} file; re-render or re-copy it")
        raise InputError(f"cannot read image {p}: not a readable PNG, TIFF or JPEG file; re-render or re-copy it")
    if img.dtype == np.uint8:
        out, depth = img.astype(np.float32) / np.float32(255.0), 8
    elif img.dtype == np.uint16:
        out, depth = img.astype(np.float32) / np.float32(65535.0), 16
    elif img.dtype in (np.float32, np.float64):
        out, depth = img.astype(np.float32), 32
    else:
        raise InputError(f"cannot read image {p}: unsupported pixel type {img.dtype}; use 8 or 16 bit")
    if out.ndim == 2:
        out = out[:, :, None]
    elif out.shape[2] == 3:
        out = out[:, :, ::-1]
    elif out.shape[2] == 4:
        out = out[:, :, [2, 1, 0, 3]]
    return np.ascontiguousarray(out), depth


def _canonical(suffix: str) -> str:
    suffix = suffix.lower()
    return {".jpeg": ".jpg", ".tiff": ".tif"}.get(suffix, suffix)


def write_image(
    path: str | os.PathLike[str], rgb_float: np.ndarray, *, bit_depth: Literal[8, 16] = 8
) -> None:
    """Write float RGB(A) in [0, 1] as an 8- or 16-bit PNG/TIFF/JPEG, atomically.

    ``rgb_float`` is (H, W), (H, W, 1), (H, W, 3) RGB or (H, W, 4) RGBA; values
    are clipped to [0, 1], NaN written as 0, then rounded to the nearest code
    value. The format comes from the extension; JPEG is 8-bit only.

    Raises:
        InputError: unknown extension, bad shape, bit depth other than 8/16,
            16-bit JPEG, or a failed encode/write.
    """
    dest = Path(path)
    ext = dest.suffix.lower()
    if ext not in IMAGE_EXTENSIONS:
        raise InputError(f"cannot write {dest}: unknown image type {ext or '(none)'}; use {', '.join(IMAGE_EXTENSIONS)}")
    if bit_depth not in _MAX_CODE:
        raise InputError(f"cannot write {dest}: bit depth {bit_depth}; use 8 or 16")
    if ext in (".jpg", ".jpeg") and bit_depth != 8:
        raise InputError(f"cannot write {dest}: JPEG is 8-bit only; use PNG or TIFF for 16 bit")
    arr = np.asarray(rgb_float, dtype=np.float32)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4) or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InputError(f"cannot write {dest}: image shape {arr.shape}; expected (H, W) or (H, W, 1|3|4)")
    top = _MAX_CODE[bit_depth]
    codes = np.rint(np.clip(np.nan_to_num(arr, nan=0.0), 0.0, 1.0) * np.float32(top))
    codes = codes.astype(np.uint8 if bit_depth == 8 else np.uint16)
    if codes.shape[2] == 1:
        codes = codes[:, :, 0]
    elif codes.shape[2] == 3:
        codes = codes[:, :, ::-1]
    else:
        codes = codes[:, :, [2, 1, 0, 3]]
    cv2 = _cv2()
    params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY] if ext in (".jpg", ".jpeg") else []
    ok, buf = cv2.imencode(ext, np.ascontiguousarray(codes), params)
    if not ok:
        raise InputError(f"cannot write {dest}: OpenCV could not encode this image as {ext}")
    atomic_write_bytes(dest, buf.tobytes())
