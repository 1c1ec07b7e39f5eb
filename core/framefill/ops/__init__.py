"""Pure array maths on numpy arrays or torch tensors: no files, no models, no device choice.

Colour proxies live in :mod:`framefill.color`; here: warping and blending
(:mod:`.warp`), canvases and pixel types (:mod:`.pixels`, and as torch ops on the job's
device, :mod:`.tensor_pixels`), resampling and the
clip-and-carry HDR path (:mod:`.resample`), tiling (:mod:`.tiling`), optical
flow (:mod:`.flow`), cut detection (:mod:`.cuts`), error and feature maps
(:mod:`.errormaps`), metrics (:mod:`.metrics`) and the regression fits
(:mod:`.regression`). Importing the package imports none of them.
"""

__all__ = ["cuts", "errormaps", "flow", "metrics", "pixels", "regression", "resample", "tensor_pixels", "tiling",
           "warp"]
