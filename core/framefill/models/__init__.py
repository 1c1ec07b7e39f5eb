"""Models: what framefill can run and how it gets them.

The cards (:mod:`.registry`: name, task, sha256, sources, licence), the weight
cache (:mod:`.cache`, :mod:`.catalog`), one checkpoint reader
(:mod:`.checkpoint`, weights-only), the architecture registry (:mod:`.archs`:
``detect``/``build`` into typed descriptors), our own network definitions
(:mod:`.arch`), the ncnn converter (:mod:`.ncnn_param`, :mod:`.ncnn_convert`),
loading onto a device (:mod:`.loading`) and the interpolator and upscaler
descriptors (:mod:`.interp`, :mod:`.upscale`). Importing the package imports
none of them (no torch).
"""

__all__ = [
    "arch", "archs", "cache", "catalog", "checkpoint", "interp", "loading", "ncnn_convert", "ncnn_param", "registry",
    "upscale",
]
