"""DPX frames (8, 10, 12 and 16 bit; grey, RGB, RGBA) through OpenImageIO, as integer code values.

OpenImageIO is imported inside the functions so that importing framefill stays
light. Reads give the file's own code values (no colour conversion: a film
scan is Cineon log, see :mod:`framefill.frames.encodings`) and its header
attributes; writes take codes and attributes back and land atomically.

OpenImageIO writes the name it was opened with into the header's file-name
field; framefill writes into a temporary, so that field is set to the final
file name before the file lands (otherwise two identical runs would differ).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from framefill.atomic import atomic_write_bytes
from framefill.errors import InputError
from framefill.frames._files import file_problem

__all__ = ["DpxFrame", "read_dpx", "write_dpx", "DPX_BIT_DEPTHS"]

DPX_BIT_DEPTHS = (8, 10, 12, 16)
# SMPTE 268M generic file header: the image file name, 100 ASCII bytes at byte 36.
_FILE_NAME_OFFSET = 36
_FILE_NAME_BYTES = 100
# Attributes OpenImageIO derives itself on a write (or that describe another file).
_DERIVED = frozenset({"oiio:BitsPerSample", "oiio:subimages", "dpx:ImageDescriptor", "dpx:Version",
                      "dpx:EndOfLinePadding", "dpx:EndOfImagePadding", "dpx:DittoKey", "dpx:UserData"})


@dataclass(frozen=True, eq=False)
class DpxFrame:
    """One DPX image: ``codes`` (H, W, C) uint16 code values, C = 1, 3 or 4; ``bit_depth``;
    ``attributes``: the header as OpenImageIO names it, (type, value) by name."""

    codes: np.ndarray
    bit_depth: int
    attributes: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    @property
    def transfer(self) -> str:
        """The header's transfer characteristic ("Printing density", "Linear", ...; "" if unset)."""
        return str(self.attributes.get("dpx:Transfer", (None, ""))[1])


def _oiio() -> Any:
    import OpenImageIO

    return OpenImageIO


def read_dpx(path: str | os.PathLike[str]) -> DpxFrame:
    """Read a DPX file's code values and header.

    Raises:
        InputError: missing, damaged or unsupported (float, or not 1/3/4 channels) file.
    """
    p = Path(path)
    problem = file_problem(p)
    if problem is not None:
        raise InputError(f"cannot read {p}: {problem}")
    oiio = _oiio()
    inp = oiio.ImageInput.open(str(p))
    if inp is None:
        raise InputError(f"cannot read {p}: not a readable DPX file ({_one_line(oiio.geterror())}); "
                         "re-render or re-copy it")
    try:
        spec = inp.spec()
        bits = spec.get_int_attribute("oiio:BitsPerSample", spec.format.size() * 8)
        if spec.format.basetype not in (oiio.UINT8, oiio.UINT16) or bits not in DPX_BIT_DEPTHS:
            raise InputError(f"cannot read {p}: {bits}-bit {spec.format} DPX; framefill reads 8, 10, 12 and "
                             "16-bit integer DPX (use EXR for float frames)")
        if spec.nchannels not in (1, 3, 4):
            raise InputError(f"cannot read {p}: {spec.nchannels} channels; framefill reads grey, RGB and RGBA DPX")
        pixels = inp.read_image(0, 0, 0, spec.nchannels, oiio.UINT16)
        if pixels is None or not isinstance(pixels, np.ndarray):
            raise InputError(f"cannot read {p}: a damaged or truncated DPX file ({_one_line(inp.geterror())}); "
                             "re-render or re-copy it")
        attributes = {a.name: (a.type, a.value) for a in spec.extra_attribs}
    finally:
        inp.close()
    codes = (pixels.reshape(spec.height, spec.width, spec.nchannels).astype(np.uint16) >> (16 - bits))
    return DpxFrame(codes.astype(np.uint16), bits, attributes)


def write_dpx(path: str | os.PathLike[str], codes: np.ndarray, *, bit_depth: int,
              attributes: dict[str, tuple[Any, Any]] | None = None) -> None:
    """Write (H, W, C) code values (C = 1, 3 or 4) as a DPX of ``bit_depth`` bits, atomically.

    ``attributes`` (as :class:`DpxFrame` holds them) go into the header, except
    those OpenImageIO derives from the pixels.

    Raises:
        InputError: a bad shape or bit depth, or a failed write.
    """
    dest = Path(path)
    arr = np.asarray(codes)
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4) or bit_depth not in DPX_BIT_DEPTHS:
        raise InputError(f"cannot write {dest}: shape {arr.shape} at {bit_depth} bit; "
                         f"expected (H, W, 1|3|4) at {', '.join(map(str, DPX_BIT_DEPTHS))} bit")
    oiio = _oiio()
    height, width, channels = arr.shape
    spec = oiio.ImageSpec(width, height, channels, oiio.UINT8 if bit_depth == 8 else oiio.UINT16)
    for name, (kind, value) in (attributes or {}).items():
        if name not in _DERIVED:
            spec.attribute(name, kind, value)
    if bit_depth != 8:
        spec.attribute("oiio:BitsPerSample", bit_depth)
    if bit_depth == 10 and channels == 4:
        # OpenImageIO 3.0 mis-packs 10-bit RGBA "filled" rows at some widths (64 px: wrong codes read back);
        # packed rows round-trip, as OpenImageIO itself chooses for 12-bit and 10-bit grey.
        spec.attribute("dpx:Packing", "Packed")
    c = arr.astype(np.uint32)
    # Replicate the top bits into the low ones: the full-range 16-bit value OpenImageIO scales down exactly.
    data = (c.astype(np.uint8) if bit_depth == 8
            else ((c << (16 - bit_depth)) | (c >> (2 * bit_depth - 16))).astype(np.uint16))
    with tempfile.TemporaryDirectory(prefix=".ff-dpx-") as folder:
        tmp = os.path.join(folder, "frame.dpx")
        out = oiio.ImageOutput.create(tmp)
        if out is None or not out.open(tmp, spec):
            raise InputError(f"cannot write {dest}: {_one_line(oiio.geterror())}")
        ok = out.write_image(np.ascontiguousarray(data))
        error = out.geterror()
        out.close()
        if not ok:
            raise InputError(f"cannot write {dest}: {_one_line(error)}")
        payload = bytearray(Path(tmp).read_bytes())
    field_bytes = dest.name.encode("ascii", "replace")[: _FILE_NAME_BYTES - 1].ljust(_FILE_NAME_BYTES, b"\0")
    payload[_FILE_NAME_OFFSET : _FILE_NAME_OFFSET + _FILE_NAME_BYTES] = field_bytes
    atomic_write_bytes(dest, bytes(payload))


def _one_line(text: str) -> str:
    return " ".join(str(text).split()) or "unknown error"
