"""Shot-level jobs, all on one frame-job engine (:mod:`.engine`).

Fill (:mod:`.fill`), upscale (:mod:`.upscale_job` for sequences and the
loader, :mod:`.video` for video files, :mod:`.upscale` and :mod:`.upscale_exr`
for what happens to one frame) and qc (:mod:`.qc` with its features,
calibration and report) are the engine's clients; :mod:`.manifest` is the typed
record of every output frame, :mod:`.plan` decides what to render and what to
fill. Importing the package imports none of them.
"""

__all__ = [
    "calibration", "demo", "engine", "fill", "manifest", "plan", "qc", "qc_calibrate", "qc_features", "report",
    "upscale", "upscale_exr", "upscale_job", "video",
]
