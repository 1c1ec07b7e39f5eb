"""How models run: devices and precision (:mod:`.device`), the memory policy (:mod:`.memory`),
and export to host formats (:mod:`.export` for TorchScript/Nuke, :mod:`.onnx_export`,
:mod:`.nuke_script`). Importing the package imports none of them (no torch).
"""

__all__ = ["device", "export", "memory", "nuke_script", "onnx_export"]
