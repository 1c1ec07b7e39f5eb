"""Frame I/O: sequences and ranges, EXR and 8/16-bit image files, atomic writes.

Every pipeline reads and writes frames through this package; it is the only
place that imports the EXR and image libraries (OpenCV lazily).
"""

from __future__ import annotations

from framefill.frames.exr import (
    COMPRESSIONS,
    ExrImage,
    ExrPart,
    check_exr,
    count_nonfinite,
    decoded_bytes,
    image_from_arrays,
    part_from_arrays,
    pixel_sha256,
    probe_exr,
    read_exr,
    with_attributes,
    write_exr,
)
from framefill.frames.images import read_image, write_image
from framefill.frames.sequence import (
    FramePattern,
    Sequence,
    find_sequences,
    format_frame_range,
    missing_frames,
    parse_frame_range,
    resolve_frames,
    sequence_pattern_of,
)

__all__ = [
    "COMPRESSIONS",
    "ExrImage",
    "ExrPart",
    "check_exr",
    "count_nonfinite",
    "decoded_bytes",
    "FramePattern",
    "Sequence",
    "find_sequences",
    "format_frame_range",
    "image_from_arrays",
    "missing_frames",
    "parse_frame_range",
    "part_from_arrays",
    "pixel_sha256",
    "probe_exr",
    "read_exr",
    "read_image",
    "resolve_frames",
    "sequence_pattern_of",
    "with_attributes",
    "write_exr",
    "write_image",
]
