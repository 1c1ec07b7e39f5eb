"""Copernicus setups around the ONNX Inference COP, and the static-shape ONNX exports they need.

Copernicus's ONNX Inference COP runs a model whose every axis is static, so
framefill exports one model per resolution (``framefill export onnx --size
WxH``, out of process: torch never loads in Houdini) and caches it by model and
size. Copernicus images have row 0 at the bottom; the exports have row 0 at
the top, so the setup turns on the node's input and output flips, and RIFE's
flows are exported with y pointing up (``--flow-y-up``) to match Houdini's
UV space after the output flip.

Interpolation is the Nuke setup in Copernicus nodes: the model gives flow0,
flow1 (pixels) and mask; each flow becomes a UV map (UV Map + flow / size)
that a UV Sample uses, like Nuke's STMap, to warp the ORIGINAL pixels of every
layer of the two source frames; a Blend mixes the warps by the mask:
``frame = warp(frame0, flow0) * mask + warp(frame1, flow1) * (1 - mask)``.

The node types and parameter names are in :data:`COP_TYPES` and :data:`PARMS`,
the one place to fix if a Houdini version names them differently (the README
says which ones SideFX's docs confirm and which are assumptions).
"""

import json
import os
from dataclasses import dataclass
from typing import Any, Dict, List, Sequence, Tuple

from framefill_host import HostError
from framefill_host.patterns import find_token

from framefill_houdini import host_api as hu

__all__ = [
    "COP_TYPES",
    "PARMS",
    "INTERPOLATE_MODELS",
    "UPSCALE_MODELS",
    "NodeSpec",
    "OnnxFiles",
    "onnx_files",
    "export_needed",
    "export_argv",
    "check_size",
    "frame_expression",
    "interpolate_network",
    "upscale_network",
    "build",
]

# Copernicus node types (the names of their doc pages, sidefx.com/docs/houdini/nodes/cop/<type>.html).
COP_TYPES = {
    "file": "file",        # File
    "onnx": "onnx",        # ONNX Inference
    "uvmap": "uvmap",      # UV Map: texture space 0-1, first channel left to right, second bottom to top
    "sample": "sample",    # UV Sample: inputs uv, filterscale, texture
    "blend": "blend",      # Blend: inputs bg, fg, mask; modes Blend, Add, Multiply, ...
    "layer": "layer",      # Layer: a constant layer of a signature (Mono, UV, RGB, RGBA, ID)
}
# Parameter names (internal names are not in the docs: assumptions, checked by nothing here).
PARMS = {
    "file": "filename",             # File COP: the image file
    "file_type": "type",            # File COP: Channel Type menu ("RGB" for the model input)
    "model": "modelfile",           # ONNX Inference: Model File
    "setup_shapes": "setupshapes",  # ONNX Inference: Setup Shapes from Model (a button)
    "input_flip": "input_flip",     # ONNX Inference: flip inputs (row 0 at the bottom in Copernicus)
    "output_flip": "output_flip",
    "resample": "resample",         # ONNX Inference: Resample Size toggle and size
    "resample_size": "resamplesize",
    "blend_mode": "mode",           # Blend: Mode menu
    "layer_signature": "signature",  # Layer: Signature menu
    "layer_uv": "value_uv",         # Layer: the UV value
    "layer_mono": "value_mono",     # Layer: the Mono value
    "layer_size": "size",           # Layer: Resolution
}
# Models a single static graph can hold (rife-hdv3 predicts only t = 0.5; flow, blend and lanczos have no network).
INTERPOLATE_MODELS = ("rife-4",)
UPSCALE_MODELS = ("realesr-animevideov3-x2", "realesr-animevideov3-x3", "realesr-animevideov3-x4",
                  "realesrgan-x4plus-anime", "realesrgan-x4plus")


@dataclass(frozen=True)
class NodeSpec:
    """One node of a setup: type, values, and where its inputs come from.

    ``inputs``: (input index, source node name, source output index).
    ``press``: buttons pressed after the values are set and before wiring.
    """

    name: str
    node_type: str
    parms: Tuple[Tuple[str, Any], ...] = ()
    menus: Tuple[Tuple[str, str], ...] = ()
    expressions: Tuple[Tuple[str, str], ...] = ()
    press: Tuple[str, ...] = ()
    inputs: Tuple[Tuple[int, str, int], ...] = ()


@dataclass(frozen=True)
class OnnxFiles:
    folder: str
    onnx: str
    sidecar: str


def onnx_files(cache_dir: str, model: str, width: int, height: int) -> OnnxFiles:
    """Where the export of ``model`` at ``width`` x ``height`` lives (one folder per model and size)."""
    size = "{}x{}".format(int(width), int(height))
    folder = os.path.join(cache_dir, "{}_{}".format(model, size))
    stem = "{}_{}".format(model.replace(".", "_"), size)
    return OnnxFiles(folder, os.path.join(folder, stem + ".onnx"), os.path.join(folder, stem + ".json"))


def export_needed(files: OnnxFiles, *, interpolate: bool) -> bool:
    """True unless the .onnx and its sidecar are there (for RIFE: with y-up flows, as the setup needs)."""
    if not (os.path.isfile(files.onnx) and os.path.isfile(files.sidecar)):
        return True
    try:
        with open(files.sidecar, "r", encoding="utf-8") as handle:
            meta = json.load(handle)
    except (OSError, ValueError):
        return True
    if not isinstance(meta, dict):
        return True
    return interpolate and "y up" not in str(meta.get("flow_convention", ""))


def export_argv(cli: Sequence[str], *, model: str, width: int, height: int, out_dir: str) -> List[str]:
    """``framefill export onnx --model M --size WxH --out DIR [--flow-y-up] --events``."""
    argv = [*cli, "export", "onnx", "--model", model, "--size", "{}x{}".format(int(width), int(height)),
            "--out", out_dir]
    if model in INTERPOLATE_MODELS:
        argv.append("--flow-y-up")
    return [*argv, "--events"]


def check_size(width: int, height: int) -> None:
    """Raises HostError for a size no model can take (under 8 px)."""
    if int(width) < 8 or int(height) < 8:
        raise HostError("the plate size {}x{} is too small for a model; use at least 8x8".format(width, height))


def frame_expression(pattern: str, expression: str) -> str:
    """A File COP path whose frame is an HScript expression: ``shot.`padzero(4, EXPR)`.exr``."""
    token = find_token(pattern)
    value = "padzero({}, {})".format(token.padding, expression) if token.padding > 1 else expression
    return pattern[: token.start] + "`" + value + "`" + pattern[token.end:]


def interpolate_network(*, pattern: str, onnx_file: str, width: int, height: int, first_key: int, every: int,
                        layers: int = 1) -> List[NodeSpec]:
    """The RIFE setup: frames ``first_key + k * every`` are rendered, every frame between is interpolated.

    ``pattern`` is the rendered sequence in Houdini's spelling (``$F4``);
    ``layers`` the number of File COP outputs (AOVs) warped, the first one
    (C, read as RGB) also feeding the model.

    Raises:
        HostError: a step under 2, a size under 8 px, or no frame token.
    """
    check_size(width, height)
    if int(every) < 2:
        raise HostError("interpolation needs rendered frames at least 2 apart, got every {}".format(every))
    key, step = int(first_key), int(every)
    base = "{} + floor(($F - {}) / {}) * {}".format(key, key, step, step)
    t_expr = "($F - {0}) / {1} - floor(($F - {0}) / {1})".format(key, step)
    onnx = PARMS["model"]
    specs = [
        NodeSpec("ff_frame0", COP_TYPES["file"], parms=((PARMS["file"], frame_expression(pattern, base)),)),
        NodeSpec("ff_frame1", COP_TYPES["file"],
                 parms=((PARMS["file"], frame_expression(pattern, "{} + {}".format(base, step))),)),
        NodeSpec("ff_timestep", COP_TYPES["layer"], parms=((PARMS["layer_size"], (int(width), int(height))),),
                 menus=((PARMS["layer_signature"], "Mono"),), expressions=((PARMS["layer_mono"], t_expr),)),
        NodeSpec("ff_rife", COP_TYPES["onnx"], parms=(
            (onnx, onnx_file), (PARMS["input_flip"], 1), (PARMS["output_flip"], 1), (PARMS["resample"], 1),
            (PARMS["resample_size"], (int(width), int(height)))),
            press=(PARMS["setup_shapes"],), inputs=((0, "ff_frame0", 0), (1, "ff_frame1", 0), (2, "ff_timestep", 0))),
        NodeSpec("ff_uv", COP_TYPES["uvmap"], inputs=((0, "ff_frame0", 0),)),
        # flow (pixels) * (1/W, 1/H) = the offset in texture space.
        NodeSpec("ff_texel", COP_TYPES["layer"], parms=(
            (PARMS["layer_size"], (int(width), int(height))), (PARMS["layer_uv"], (1.0 / width, 1.0 / height))),
            menus=((PARMS["layer_signature"], "UV"),)),
    ]
    for i in (0, 1):
        specs += [
            NodeSpec("ff_flow{}_uv".format(i), COP_TYPES["blend"], menus=((PARMS["blend_mode"], "Multiply"),),
                     inputs=((0, "ff_rife", i), (1, "ff_texel", 0))),
            NodeSpec("ff_stmap{}".format(i), COP_TYPES["blend"], menus=((PARMS["blend_mode"], "Add"),),
                     inputs=((0, "ff_uv", 0), (1, "ff_flow{}_uv".format(i), 0))),
        ]
    for layer in range(int(layers)):
        for i in (0, 1):
            specs.append(NodeSpec("ff_warp{}_{}".format(i, layer), COP_TYPES["sample"],
                                  inputs=((0, "ff_stmap{}".format(i), 0), (2, "ff_frame{}".format(i), layer))))
        # Blend mode "Blend": bg * (1 - mask) + fg * mask, with mask = the weight of frame0.
        specs.append(NodeSpec("ff_out_{}".format(layer), COP_TYPES["blend"], menus=((PARMS["blend_mode"], "Blend"),),
                              inputs=((0, "ff_warp1_{}".format(layer), 0), (1, "ff_warp0_{}".format(layer), 0),
                                      (2, "ff_rife", 2))))
    return specs


def upscale_network(*, pattern: str, onnx_file: str, width: int, height: int) -> List[NodeSpec]:
    """File COP -> ONNX Inference (flips on, Resample Size to the model's static input size).

    Raises:
        HostError: a size under 8 px.
    """
    check_size(width, height)
    return [
        NodeSpec("ff_source", COP_TYPES["file"], parms=((PARMS["file"], pattern),),
                 menus=((PARMS["file_type"], "RGB"),)),
        NodeSpec("ff_upscale", COP_TYPES["onnx"], parms=(
            (PARMS["model"], onnx_file), (PARMS["input_flip"], 1), (PARMS["output_flip"], 1),
            (PARMS["resample"], 1), (PARMS["resample_size"], (int(width), int(height)))),
            press=(PARMS["setup_shapes"],), inputs=((0, "ff_source", 0),)),
    ]


def build(parent: Any, specs: Sequence[NodeSpec]) -> Tuple[Dict[str, Any], List[str]]:
    """Create ``specs`` inside ``parent`` (a COP network): the nodes by name, and what could not be set.

    The second list names, as ``node.parm``, values this Houdini did not take
    (a parameter named differently); the tool reports them so the artist can set
    them by hand.
    """
    made: Dict[str, Any] = {}
    missing: List[str] = []
    for spec in specs:
        item = hu.create_node(parent, spec.node_type, spec.name)
        made[spec.name] = item
        for name, value in spec.parms:
            if not hu.set_parm(item, name, value):
                missing.append("{}.{}".format(spec.name, name))
        for name, label in spec.menus:
            if not hu.set_menu(item, name, label):
                missing.append("{}.{}".format(spec.name, name))
        for name, expression in spec.expressions:
            if not hu.set_expression(item, name, expression):
                missing.append("{}.{}".format(spec.name, name))
        for name in spec.press:
            if not hu.press_button(item, name):
                missing.append("{}.{}".format(spec.name, name))
    for spec in specs:
        for index, source, output in spec.inputs:
            hu.set_input(made[spec.name], index, made[source], output)
    hu.layout(parent)
    hu.set_display(made[specs[-1].name])
    return made, missing

