"""Frame I/O: sequences and ranges, EXR and 8/16-bit image files, atomic writes.

Every pipeline reads and writes frames through this package; it is the only
place that imports the EXR and image libraries (OpenCV lazily).
"""

from __future__ import annotations

from framefill.frames.atomic import (
    atomic_output,
    atomic_write_bytes,
    atomic_write_text,
    is_temp_name,
    remove_stale_temps,
)
from framefill.frames.exr import (
    COMPRESSIONS,
    ExrImage,
    ExrPart,
    image_from_arrays,
    memory_budget,
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
)

__all__ = [
    "COMPRESSIONS",
    "ExrImage",
    "ExrPart",
    "FramePattern",
    "Sequence",
    "atomic_output",
    "atomic_write_bytes",
    "atomic_write_text",
    "find_sequences",
    "format_frame_range",
    "image_from_arrays",
    "is_temp_name",
    "memory_budget",
    "missing_frames",
    "parse_frame_range",
    "part_from_arrays",
    "pixel_sha256",
    "probe_exr",
    "read_exr",
    "read_image",
    "remove_stale_temps",
    "resolve_frames",
    "with_attributes",
    "write_exr",
    "write_image",
]
