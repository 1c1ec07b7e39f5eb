"""The encodings image files store pixels in, and their exact inverses: code values <-> scene-linear floats.

8/16-bit PNG, TIFF and JPEG frames are sRGB-encoded (IEC 61966-2-1, Rec.709
primaries); a DPX film scan holds Cineon printing-density log (Kodak's curve:
reference white 685, reference black 95, 0.002 density per 10-bit code,
negative gamma 0.6) unless its header says linear. Decoding gives linear
Rec.709 floats; encoding is the exact inverse, then a caller quantises.
The maths is float64, so every 8-, 10- and 16-bit code decodes and encodes
back to itself (a unit test checks all of them).

These are closed-form curves, not OCIO transforms: OCIO's float32 processors
round-trip within 1e-5, which is not enough for 16-bit codes, and the built-in
configs have no Cineon printing-density space.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

__all__ = ["Encoding", "ENCODINGS", "decode", "encode", "CINEON_WHITE", "CINEON_BLACK"]

Encoding = Literal["srgb", "cineon", "linear"]
ENCODINGS: tuple[Encoding, ...] = ("srgb", "cineon", "linear")

# Kodak Cineon: 10-bit codes of reference white and black, density per code, film gamma.
CINEON_WHITE = 685.0
CINEON_BLACK = 95.0
_DENSITY_PER_CODE = 0.002
_NEGATIVE_GAMMA = 0.6
_CINEON_MAX_CODE = 1023.0
_CINEON_BLACK_LINEAR = 10.0 ** ((CINEON_BLACK - CINEON_WHITE) * _DENSITY_PER_CODE / _NEGATIVE_GAMMA)


def decode(values: np.ndarray, encoding: Encoding) -> np.ndarray:
    """Encoded values (code / largest code, in [0, 1]) -> scene-linear float32, same shape.

    Cineon values are read on the 10-bit scale (``value * 1023`` is the code),
    whatever the file's bit depth; black (code 95) decodes to 0, white (685) to 1.
    """
    v = np.asarray(values, dtype=np.float64)
    if encoding == "srgb":
        out = np.where(v <= 0.04045, v / 12.92, ((np.maximum(v, 0.04045) + 0.055) / 1.055) ** 2.4)
    elif encoding == "cineon":
        exposure = 10.0 ** ((v * _CINEON_MAX_CODE - CINEON_WHITE) * _DENSITY_PER_CODE / _NEGATIVE_GAMMA)
        out = (exposure - _CINEON_BLACK_LINEAR) / (1.0 - _CINEON_BLACK_LINEAR)
    else:
        out = v
    return out.astype(np.float32)


def encode(linear: np.ndarray, encoding: Encoding) -> np.ndarray:
    """Scene-linear floats -> encoded values (float64, unclamped where the curve allows): :func:`decode`'s inverse.

    Values a curve cannot hold (sRGB below 0 or above 1, Cineon below code 0)
    are left for the caller's quantiser to clip.
    """
    x = np.asarray(linear, dtype=np.float64)
    if encoding == "srgb":
        return np.where(x <= 0.0031308, x * 12.92, 1.055 * np.maximum(x, 0.0031308) ** (1.0 / 2.4) - 0.055)
    if encoding == "cineon":
        exposure = np.maximum(x * (1.0 - _CINEON_BLACK_LINEAR) + _CINEON_BLACK_LINEAR, 1e-30)
        return (CINEON_WHITE + np.log10(exposure) * _NEGATIVE_GAMMA / _DENSITY_PER_CODE) / _CINEON_MAX_CODE
    return x
