"""framefill for Houdini 20.5 and 21 (Python 3.11): Copernicus setups, out-of-process tools, TOPs and Deadline Cloud.

Modules:

- :mod:`.host_api`: the thin layer of ``hou`` calls (a hand-written fake stands in for tests);
- :mod:`.paths`: Houdini paths (``$F4``, ``$HIP``, ``$JOB``) as framefill patterns, and the environment;
- :mod:`.cop_setup`: the Copernicus ONNX Inference networks and the ONNX exports they need;
- :mod:`.tools`: "Interpolate sequence", "Upscale sequence" and "Flow error" (the CLI with ``--events``);
- :mod:`.pdg_fill` and :mod:`.pdg_task`: TOPs (render every Nth frame, fill, qc, the re-render list);
- :mod:`.submit`: the Deadline Cloud job bundle, with a hython render step;
- :mod:`.shelf`: what the shelf tools and the Render menu call.

Nothing is imported here, and nothing in the package imports torch, numpy or the framefill core:
the work runs in the ``framefill`` CLI, out of process.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
