"""Deadline Cloud job bundles from the framefill OpenJD templates.

A job bundle is a folder with ``template.yaml``, ``parameter_values.yaml``
(``parameterValues: [{name, value}]``) and ``asset_references.yaml``.
:func:`write_bundle` takes a :class:`~framefill.requests.BundleRequest` and
serves the CLI (``framefill farm bundle``), and through it every host's
"Submit to Deadline Cloud" menu. Every value is checked here, when the bundle
is written, so a bad model, device or mode fails on the workstation with one
line instead of on the farm. It never imports torch.
"""

from __future__ import annotations

import copy
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from framefill.atomic import atomic_write_text
from framefill.errors import (
    DeviceError,
    InputError,
    RequestError,
    SequenceError,
    TemplateError,
)
from framefill.farm.templates import (
    frames_to_str,
    load_template,
    parse_frames,
    resolve_parameter_values,
    validate_template,
)
from framefill.requests import BundleRequest

__all__ = [
    "BUNDLE_FILES",
    "BundleResult",
    "bundle_template_path",
    "read_bundle_values",
    "split_pattern",
    "write_bundle",
]

BUNDLE_FILES = ("template.yaml", "parameter_values.yaml", "asset_references.yaml")

# Where the QC report goes when the caller does not say: beside the outputs, so a
# job's results travel together (and Deadline downloads them with the outputs).
DEFAULT_REPORT_SUBDIR = "qc_report"

# Parameter values whose name starts with this go to parameter_values.yaml as they
# are (Deadline job settings such as deadline:priority, deadline:maxRetriesPerTask).
_DEADLINE_PREFIX = "deadline:"

_HEADER = "# Written by `framefill farm bundle` from openjd_templates/{kind}.yaml; edit the template, not this copy.\n"

# The request field that fills each template parameter (the rest come from ``params``),
# so an error names what the caller typed: a field here, a flag in the CLI.
_SHORTCUT_FIELDS = {
    "InputDir": "input_pattern", "InputPattern": "input_pattern", "OutputDir": "output_pattern",
    "OutputPattern": "output_pattern", "Frames": "frames", "Keyframes": "keyframes", "Filled": "filled",
    "ChunkSize": "chunk_size", "Model": "model", "ReportDir": "report_dir", "CondaPackages": "conda_packages",
}
_RANGE_PARAMETERS = ("Frames", "Keyframes", "Filled")
# A video job (upscale_video) takes files, not patterns: the same request fields fill them.
_VIDEO_FILE_PARAMETERS = {"input_pattern": "InputFile", "output_pattern": "OutputFile"}
_SHORTCUT_FIELDS.update({param: field for field, param in _VIDEO_FILE_PARAMETERS.items()})
_INT_TEXT = re.compile(r"^[-+]?\d+$")
_SIZE_TEXT = re.compile(r"^\d+x\d+$")

# Host requirements by device. Templates carry the GPU variant; a job whose Device is
# cpu loses every amount.worker.gpu* requirement, so a CPU-only fleet can run it.
# "auto" keeps the GPU amounts: on a farm it would otherwise land on CPU workers and
# run there many times slower; a CPU fleet asks for Device=cpu.
GPU_AMOUNT_PREFIX = "amount.worker.gpu"
OS_FAMILY_ATTRIBUTE = "attr.worker.os.family"
# Linux and Windows for every step. macOS is left out, also for CPU jobs: framefill is
# neither built nor tested there, and a Mac worker would take the job only to fail it.
OS_FAMILIES: tuple[str, ...] = ("linux", "windows")
# What reaches CondaPackages / CondaChannels: Deadline's conda queue environment puts
# them inside single quotes in bash, so quotes, spaces inside a spec and $ or ` are refused.
_CONDA_SPEC = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:=<>!~*,|+\-\[\]]*$")
_CONDA_CHANNEL = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:/~%+=@\-]*$")


@dataclass(frozen=True)
class BundleResult:
    """A written job bundle: its folder, template kind, files and job parameter values.

    ``parameters`` are the values of ``parameter_values.yaml`` by name, typed as
    written (INT parameters are ints), without Deadline's own ``deadline:*`` settings.
    """

    folder: Path
    kind: str
    files: tuple[Path, ...]
    parameters: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        """The ``framefill farm bundle --json`` document: bundle, kind, files, parameters."""
        return {
            "bundle": str(self.folder),
            "kind": self.kind,
            "files": [str(f) for f in self.files],
            "parameters": dict(self.parameters),
        }


def split_pattern(pattern: str | os.PathLike[str], *, what: str = "pattern") -> tuple[str, str]:
    """Split ``shots/a/beauty.####.exr`` into an absolute folder and a file pattern.

    A Windows spelling (``C:\\shots\\a.####.exr``, ``C:/shots/a.####.exr``, ``\\\\srv\\share\\a.####.exr``)
    is split as written on any system, never resolved against this machine's folders (a Linux
    submitter may write a bundle for Windows workers); it must be a full path.

    Raises:
        InputError: the pattern has no file name, or is a Windows path that is not a full one.
    """
    import ntpath

    from framefill.frames.sequence import is_windows_spelling, split_folder_name

    text = os.fspath(pattern).strip()
    if is_windows_spelling(text):
        folder, name = split_folder_name(text)
        if not name:
            raise InputError(f"{what} {text!r} needs a file name with #### for the frame number, "
                             "e.g. C:\\shots\\beauty.####.exr")
        if not ntpath.isabs(text):
            raise InputError(f"{what} {text!r} is a Windows path without a folder from the drive's root; "
                             "give the full path, e.g. C:\\shots\\beauty.####.exr")
        trimmed = folder.rstrip("\\/")  # a drive's root keeps its separator: C: alone is a drive's current folder
        return (trimmed if not re.fullmatch(r"[A-Za-z]:", trimmed) else folder), name
    path = Path(text).expanduser()
    if not text or not path.name or text.endswith(("/", os.sep)):
        raise InputError(f"{what} {text!r} needs a file name with #### for the frame number, e.g. shot/beauty.####.exr")
    return str(path.parent.resolve()), path.name


def write_bundle(request: BundleRequest) -> BundleResult:
    """Write the Deadline Cloud job bundle ``request`` asks for into ``request.out_dir``.

    ``request.kind`` picks the template (``fill``, ``upscale``, ``qc``,
    ``sparse_pipeline``). ``request.params`` holds template parameter values by
    name; the other fields are shortcuts that fill the same parameters:
    ``input_pattern`` -> InputDir + InputPattern, ``output_pattern`` -> OutputDir
    + OutputPattern, ``frames`` -> Frames, ``keyframes`` -> Keyframes, ``filled``
    -> Filled (computed as frames minus keyframes when not given),
    ``chunk_size`` -> ChunkSize, ``model`` -> Model, ``report_dir`` -> ReportDir
    (default ``<OutputDir>/qc_report``).

    ``request.render_step`` is a host's own OpenJD step (e.g. a Blender render
    of the keyframes). It is put first, and every step of the template that had
    no dependency now depends on it, so Fill waits for the render. Its extra
    job parameters are ``request.render_parameters`` (OpenJD parameter
    definitions); their values go in ``params``. With a render step the input
    folder is written by the job itself, so it is declared an output.

    ``gpu_memory_mib`` replaces the ``amount.worker.gpu.memory`` minimum of the
    GPU steps; ``name`` replaces the job name. ``conda_packages`` (a host's
    ``blender=4.2``) are appended to CondaPackages. Host requirements follow the
    Device: ``cpu`` drops every GPU amount, any other device keeps them, and
    every step gets ``attr.worker.os.family`` (linux, windows); see
    :func:`fit_host_requirements`.

    Paths are made absolute against the current directory. Every value is
    checked before anything is written: a Model against the model registry, a
    Device as ``--device`` reads it, Mode, Threshold, Scale, Size and TilePx as
    the framefill commands read them, and each value against its parameter's
    type and constraints; then the template is validated with openjd.model
    (TASK_CHUNKING) and the values resolved against it.

    Raises:
        RequestError: a value that cannot be used, naming its request field
            (``params`` for a template parameter given by name, ``render_step``
            for a step that does not fit the template).
        TemplateError: the template or the values do not validate with openjd
            (e.g. a required value missing), or the templates are not installed.
        InputError: a bundle file cannot be written.
    """
    if not isinstance(request, BundleRequest):
        raise TypeError(f"write_bundle takes a BundleRequest, got {type(request).__name__}")
    kind = request.kind
    template = load_template(kind)
    defined = {p["name"]: p for p in template.get("parameterDefinitions", [])}
    values, deadline_values, given = _request_values(request, defined)
    job_template, defined = _shape_template(request, template, values, given)
    out_path = request.out_dir.expanduser().resolve()
    resolved = resolve_parameter_values(job_template, values, template_dir=out_path, where=f"{kind} job template")
    rows = _parameter_values(defined, resolved, deadline_values)
    body = yaml.safe_dump(template, sort_keys=False, allow_unicode=True, width=1_000_000)
    # Each file appears whole or not at all; atomic_write_text creates the folder.
    atomic_write_text(out_path / "template.yaml", _HEADER.format(kind=kind) + body)
    atomic_write_text(out_path / "parameter_values.yaml", _dump(rows))
    atomic_write_text(out_path / "asset_references.yaml", _dump(_asset_references(defined, resolved)))
    parameters = {r["name"]: r["value"] for r in rows["parameterValues"]
                  if not str(r["name"]).startswith(_DEADLINE_PREFIX)}
    return BundleResult(out_path, kind, tuple(out_path / f for f in BUNDLE_FILES), parameters)


def _request_values(request: BundleRequest, defined: Mapping[str, Any],
                    ) -> tuple[dict[str, Any], dict[str, Any], set[str]]:
    """The template parameter values a request gives (by name and through its shortcut fields),
    the Deadline settings, and the names given by name."""
    kind = request.kind
    values: dict[str, Any] = {}
    deadline_values: dict[str, Any] = {}
    for key, value in request.params.items():
        (deadline_values if key.startswith(_DEADLINE_PREFIX) else values)[key] = value
    given = set(values)

    def put(param: str, value: Any, field: str) -> None:
        if value is None:
            return
        if param not in defined:
            raise RequestError(field, f"does not apply to a {kind} job (its template has no {param} parameter)")
        if param in values and str(values[param]) != str(value):
            raise RequestError(field, f"gives {param} {value!r}, but the {param} parameter is also given, as "
                                      f"{values[param]!r}; give it once")
        values[param] = value

    for field, dir_param, name_param in (("input_pattern", "InputDir", "InputPattern"),
                                         ("output_pattern", "OutputDir", "OutputPattern")):
        pattern = getattr(request, field)
        if pattern is not None and kind == "upscale_video":
            put(_VIDEO_FILE_PARAMETERS[field], _video_file(pattern, field), field)
        elif pattern is not None:
            folder, name = _split(pattern, field)
            put(dir_param, folder, field)
            put(name_param, name, field)
    for param, field in (("Frames", "frames"), ("Keyframes", "keyframes"), ("Filled", "filled")):
        text = getattr(request, field)
        put(param, None if text is None else _range_text(text, field), field)
    put("ChunkSize", request.chunk_size, "chunk_size")
    put("Model", request.model, "model")
    put("ReportDir", None if request.report_dir is None else _absolute(request.report_dir), "report_dir")
    if request.conda_packages:
        if "CondaPackages" not in defined:
            raise RequestError("conda_packages", f"do not apply to a {kind} job (its template has no CondaPackages "
                                                 "parameter)")
        base = str(values.get("CondaPackages", defined["CondaPackages"].get("default", "")))
        values["CondaPackages"] = join_conda_packages(base, request.conda_packages)
    for param in _RANGE_PARAMETERS:
        if param in given and param in defined:
            _range_text(values[param], "params", param=param)
    _derive_values(kind, defined, values, given)
    return values, deadline_values, given


def _shape_template(request: BundleRequest, template: dict[str, Any], values: dict[str, Any], given: set[str],
                    ) -> tuple[Any, dict[str, Any]]:
    """Apply the render step, GPU memory and name to ``template``, check the values, and validate it with openjd.

    Returns the validated job template and the parameter definitions by name.
    """
    kind = request.kind
    if request.render_step is not None:
        _prepend_render_step(template, request.render_step, request.render_parameters)
    uses_gpu = job_uses_gpu(template, values)
    if request.gpu_memory_mib is not None:
        if uses_gpu is False:
            raise RequestError("gpu_memory_mib", "applies to GPU jobs, and this one runs on the CPU (Device cpu); "
                                                 "leave it out or choose a GPU device")
        _set_gpu_memory(template, request.gpu_memory_mib)
    fit_host_requirements(template, uses_gpu=uses_gpu)
    if request.name is not None:
        template["name"] = str(request.name)
    defined = {p["name"]: p for p in template.get("parameterDefinitions", [])}
    unknown = sorted(set(values) - set(defined))
    if unknown:
        raise RequestError("params", f"{', '.join(unknown)}: the {kind} job has no such parameter; "
                                     f"its parameters are {', '.join(defined)}")
    _check_values(kind, defined, values, given)
    if request.render_step is None:
        return validate_template(template, where=f"{kind} job template"), defined
    try:
        return validate_template(template, where=f"the {kind} job with this render step"), defined
    except TemplateError as err:
        raise RequestError("render_step", err.msg) from None


def join_conda_packages(base: str, extra: Sequence[str]) -> str:
    """``base`` (a space-separated CondaPackages value) with ``extra`` appended, each spec once."""
    specs: list[str] = []
    for spec in [*base.split(), *extra]:
        if spec not in specs:
            specs.append(spec)
    return " ".join(specs)


def job_uses_gpu(template: Mapping[str, Any], values: Mapping[str, Any]) -> bool | None:
    """Whether the job runs on a GPU: its Device value (or the template's default) is anything but ``cpu``.

    None for a template without a Device parameter (its steps keep the requirements they declare).
    """
    definition = next((p for p in template.get("parameterDefinitions", []) if p.get("name") == "Device"), None)
    if definition is None:
        return None
    device = str(values.get("Device", definition.get("default", "auto"))).strip().lower()
    return device != "cpu"


def fit_host_requirements(template: dict[str, Any], *, uses_gpu: bool | None) -> None:
    """Make every step's host requirements fit the job's device, in place.

    ``uses_gpu`` False drops every ``amount.worker.gpu*`` amount (a step left with
    no amount keeps only its attributes). Every step without an
    ``attr.worker.os.family`` attribute gets one (:data:`OS_FAMILIES`), a host's render step too.
    """
    for step in template.get("steps", []):
        requirements = step.get("hostRequirements") or {}
        if uses_gpu is False and "amounts" in requirements:
            kept = [a for a in requirements["amounts"] if not str(a.get("name", "")).startswith(GPU_AMOUNT_PREFIX)]
            if kept:
                requirements["amounts"] = kept
            else:
                del requirements["amounts"]
        attributes = requirements.setdefault("attributes", [])
        if not any(a.get("name") == OS_FAMILY_ATTRIBUTE for a in attributes):
            attributes.append({"name": OS_FAMILY_ATTRIBUTE, "anyOf": list(OS_FAMILIES)})
        step["hostRequirements"] = requirements


def _split(pattern: str, field: str) -> tuple[str, str]:
    try:
        return split_pattern(pattern)
    except InputError:
        raise RequestError(field, f"{os.fspath(pattern)!r} needs a file name with #### for the frame number, "
                                  "e.g. shot/beauty.####.exr") from None


def _range_text(text: Any, field: str, *, param: str | None = None) -> str:
    """Validate a frame range and return it in OpenJD syntax (Nuke's ``x`` step becomes ``:``).

    Raises:
        RequestError: not a range; names ``field`` (and ``param`` for a value given by name).
    """
    label = f"{param}: " if param else ""
    try:
        return frames_to_str(parse_frames(str(text), what="frame range"))
    except SequenceError as err:
        if not str(text).strip():
            raise RequestError(field, f"{label}is empty; give frames like 1001-1100 or 1001-1100:2") from None
        reason = " ".join(str(err.__cause__).split()) if err.__cause__ is not None else err.msg
        raise RequestError(field, f"{label}{str(text)!r} is not a frame range ({reason}); "
                                  "use e.g. 1001-1100, 1001-1100:2 or 1,5,9-12") from None


def _error(param: str, given: set[str], detail: str) -> RequestError:
    """A bad value of template parameter ``param``, named as the caller gave it (a field or params)."""
    if param in given or param not in _SHORTCUT_FIELDS:
        return RequestError("params", f"{param}: {detail}")
    return RequestError(_SHORTCUT_FIELDS[param], detail)


def _video_file(path: str | os.PathLike[str], field: str) -> str:
    """A video job's input or output file as an absolute path.

    Raises:
        RequestError: no file name, or not a video file.
    """
    from framefill.frames.video import VIDEO_EXTENSIONS, is_video_path

    text = os.fspath(path).strip()
    if not text or text.endswith(("/", os.sep)) or not is_video_path(text):
        raise RequestError(field, f"{text!r} is not a video file; give one ending in {', '.join(VIDEO_EXTENSIONS)}")
    return _absolute(text)


def _absolute(path: str | os.PathLike[str]) -> str:
    """``path`` made absolute on this machine; a Windows spelling (``C:\\shots``, ``\\\\srv\\share``) stays as
    written on any system, for a Windows worker to read."""
    from framefill.frames.sequence import is_windows_spelling

    text = os.fspath(path).strip()
    return text if is_windows_spelling(text) else str(Path(text).expanduser().resolve())


def _folder_of(path: str) -> str:
    """The folder of a file path as written (``C:\\up\\a.mov`` -> ``C:\\up``, also on Linux)."""
    from framefill.frames.sequence import split_folder_name

    return split_folder_name(path)[0]


def _join(folder: str, name: str) -> str:
    """``folder/name`` in ``folder``'s own spelling (a Windows folder joins with ``\\``)."""
    import ntpath

    from framefill.frames.sequence import is_windows_spelling

    return ntpath.join(folder, name) if is_windows_spelling(folder) else str(Path(folder) / name)


def _derive_video_frames(values: dict[str, Any], given: set[str]) -> None:
    """A video job's Frames: every frame of InputFile, ``0-(count - 1)``, counted in the file.

    Segments must cover the whole video (the join needs every frame), so a Frames
    given by the caller must be exactly that range when the file can be read.

    Raises:
        RequestError: the input cannot be read as a video and Frames is not given,
            or Frames is not the video's whole range.
    """
    from framefill.frames.video import probe_video

    source = values.get("InputFile")
    if source is None:
        return
    try:
        count = probe_video(str(source)).frame_count
    except InputError as err:
        if "Frames" in values:
            return  # a video that is not there yet (rendered by an earlier job): trust the range given
        raise RequestError("input_pattern", f"{err.msg}; or give Frames (0 to its frame count - 1)") from None
    whole = frames_to_str(range(count))
    if "Frames" not in values:
        values["Frames"] = whole
    elif frames_to_str(parse_frames(str(values["Frames"]))) != whole:
        raise _error("Frames", given, f"{values['Frames']} is not every frame of {source} ({whole}, 0 is the "
                                      "first): the join needs them all; leave Frames out to have it counted")


def _derive_values(kind: str, defined: Mapping[str, Any], values: dict[str, Any], given: set[str]) -> None:
    """Fill the parameters that follow from others: Filled, ReportDir, and a video job's Frames."""
    if kind == "upscale_video":
        _derive_video_frames(values, given)
    if "Filled" in defined and "Filled" not in values:
        if "Frames" in values and "Keyframes" in values:
            every = parse_frames(str(values["Frames"]), what="Frames")
            rendered = set(parse_frames(str(values["Keyframes"]), what="Keyframes"))
            rest = [f for f in every if f not in rendered]
            if not rest:
                raise _error("Keyframes", given, f"cover every frame of {values['Frames']}, so there is nothing "
                                                 "to fill; render fewer frames")
            values["Filled"] = frames_to_str(rest)
        elif kind == "qc":
            raise RequestError("filled", "is required for a qc job: the filled frames to score")
    if "Keyframes" in values and "Frames" in values:
        outside = set(parse_frames(str(values["Keyframes"]), what="Keyframes")) - set(
            parse_frames(str(values["Frames"]), what="Frames")
        )
        if outside:
            raise _error("Keyframes", given, f"{frames_to_str(outside)} lie outside Frames {values['Frames']}; "
                                             "widen Frames or drop them")
    if "ReportDir" in defined and "ReportDir" not in values and "OutputDir" in values:
        values["ReportDir"] = _join(str(values["OutputDir"]), DEFAULT_REPORT_SUBDIR)


# ---------------------------------------------------------------------------------------
# Value checks: what the framefill command behind each parameter accepts, and the
# template's own constraints, each as one line naming the parameter
# ---------------------------------------------------------------------------------------


def _model_problem(kind: str, text: str) -> str | None:
    from framefill.models.registry import MODELS

    task = "upscale" if kind in ("upscale", "upscale_video") else "interpolate"
    if text not in MODELS:
        known = ", ".join(c.name for c in MODELS if c.task == task)
        return f"{text!r} is not a known {task} model; use one of {known}"
    card = MODELS.get(text)
    if card.task != task:
        return f"{text!r} is a model for {card.task}, not {task}; see `framefill models list`"
    return None


def _device_problem(kind: str, text: str) -> str | None:
    from framefill.runtime.device import parse_device

    try:
        parse_device(text)
    except DeviceError as err:
        # The hint is the message's last "; use ..." (the value itself may hold a "; ").
        _, found, hint = err.msg.rpartition("; use ")
        return f"{text!r} is not a device; use {hint if found else 'auto, cpu, cuda, cuda:N or all'}"
    return None


def _mode_problem(kind: str, text: str) -> str | None:
    if text not in ("", "direct", "recursive"):
        return f"{text!r} is not a fill mode; use direct or recursive, or leave it empty for framefill's default"
    return None


def _finite(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _threshold_problem(kind: str, text: str) -> str | None:
    if text.strip() and _finite(text) is None:
        return f"{text!r} is not a number of dB (e.g. 30); leave it empty for the calibrated threshold"
    return None


def _scale_problem(kind: str, text: str) -> str | None:
    from framefill.requests import MAX_UPSCALE_SCALE

    number = _finite(text) if text.strip() else 1.0
    if number is None or not 0 < number <= MAX_UPSCALE_SCALE:
        return f"{text!r} is not a scale factor above 0 and at most {MAX_UPSCALE_SCALE:g}; leave it empty " \
               "for the model's own scale"
    return None


def _size_problem(kind: str, text: str) -> str | None:
    cleaned = text.lower().replace(" ", "")
    if cleaned and not (_SIZE_TEXT.match(cleaned) and all(int(p) > 0 for p in cleaned.split("x"))):
        return f"{text!r} is not WIDTHxHEIGHT in whole pixels (e.g. 3840x2160); leave it empty for none"
    return None


def _tile_problem(kind: str, text: str) -> str | None:
    if text.strip() and not (_INT_TEXT.match(text.strip()) and int(text) >= 0):
        return f"{text!r} is not a tile size in pixels (e.g. 512, 0: untiled); leave it empty to let framefill choose"
    return None


def _conda_packages_problem(kind: str, text: str) -> str | None:
    bad = [spec for spec in text.split() if not _CONDA_SPEC.match(spec)]
    if bad:
        return f"{bad[0]!r} is not a conda package spec (e.g. blender=4.2, nuke=15.*); separate specs with spaces"
    return None


def _conda_channels_problem(kind: str, text: str) -> str | None:
    bad = [channel for channel in text.split() if not _CONDA_CHANNEL.match(channel)]
    if bad:
        return f"{bad[0]!r} is not a conda channel (a name such as deadline-cloud or conda-forge, or a URL " \
               "such as s3://bucket/channel); separate channels with spaces"
    return None


# The template parameters that reach a framefill option (or a queue environment),
# checked as that option reads them.
_NAMED_CHECKS: dict[str, Callable[[str, str], str | None]] = {
    "Model": _model_problem,
    "Device": _device_problem,
    "Mode": _mode_problem,
    "Threshold": _threshold_problem,
    "Scale": _scale_problem,
    "Size": _size_problem,
    "TilePx": _tile_problem,
    "CondaPackages": _conda_packages_problem,
    "CondaChannels": _conda_channels_problem,
}


def _constraint_problem(definition: Mapping[str, Any], value: Any) -> str | None:
    """The first constraint of an OpenJD parameter definition that ``value`` breaks, else None."""
    if isinstance(value, bool):
        return f"{value!r} is a boolean; give a string, path or number"
    text = str(value)
    kind = definition.get("type")
    number: float | None = None
    if kind == "INT":
        if not _INT_TEXT.match(text.strip()):
            return f"{text!r} is not a whole number"
        number = int(text)
    elif kind == "FLOAT":
        number = _finite(text)
        if number is None:
            return f"{text!r} is not a number"
    if number is not None:
        low, high = definition.get("minValue"), definition.get("maxValue")
        if low is not None and number < float(low):
            return f"{text} is below its minimum, {low}"
        if high is not None and number > float(high):
            return f"{text} is above its maximum, {high}"
    allowed = definition.get("allowedValues")
    if allowed is not None:
        ok = number in [float(a) for a in allowed] if number is not None else text in [str(a) for a in allowed]
        if not ok:
            shown = ", ".join("empty" if str(a) == "" else str(a) for a in allowed)
            return f"{text!r} is not one of its allowed values: {shown}"
    if kind in ("STRING", "PATH"):
        low_len, high_len = definition.get("minLength"), definition.get("maxLength")
        if low_len is not None and len(text) < int(low_len):
            return "must not be empty" if int(low_len) == 1 else f"{text!r} is shorter than {low_len} characters"
        if high_len is not None and len(text) > int(high_len):
            return f"is longer than {high_len} characters"
    return None


def _check_values(kind: str, defined: Mapping[str, Mapping[str, Any]], values: Mapping[str, Any],
                  given: set[str]) -> None:
    """Check every job parameter value before openjd sees it, so the error names the parameter.

    Raises:
        RequestError: the first bad value.
    """
    for name, value in values.items():
        check = _NAMED_CHECKS.get(name)
        problem = None
        if check is not None and not isinstance(value, bool):
            problem = check(kind, str(value))
        problem = problem or _constraint_problem(defined[name], value)
        if problem:
            raise _error(name, given, problem)
    if str(values.get("Scale", "")).strip() and str(values.get("Size", "")).strip():
        raise RequestError("params", "Scale and Size both set the output size; give one of them")


def _prepend_render_step(
    template: dict[str, Any], render_step: Mapping[str, Any], render_parameters: Sequence[Mapping[str, Any]]
) -> None:
    step = copy.deepcopy(dict(render_step))
    step_name = step.get("name")
    if not isinstance(step_name, str) or not step_name:
        raise RequestError("render_step", "needs a name (an OpenJD step with name and script)")
    steps: list[dict[str, Any]] = template["steps"]
    if any(s["name"] == step_name for s in steps):
        raise RequestError("render_step", f"is named {step_name!r}, like a framefill step; rename it")
    for s in steps:
        if not s.get("dependencies"):
            s["dependencies"] = [{"dependsOn": step_name}]
    template["steps"] = [step, *steps]

    params: list[dict[str, Any]] = template.setdefault("parameterDefinitions", [])
    by_name = {p["name"]: p for p in params}
    for extra in render_parameters:
        if not isinstance(extra, Mapping) or not isinstance(extra.get("name"), str) or not extra.get("name"):
            raise RequestError("render_parameters", f"must be OpenJD parameter definitions with a name and a type, "
                                                    f"got {extra!r}")
        definition = copy.deepcopy(dict(extra))
        existing = by_name.get(definition["name"])
        if existing is None:
            params.append(definition)
            by_name[definition["name"]] = definition
        elif existing != definition:
            raise RequestError("render_parameters", f"{definition['name']!r} clashes with framefill's own "
                                                    "definition of that parameter; rename it")
    # The job renders the keyframes itself, so the input folder is one of its outputs:
    # Deadline then neither uploads a folder that does not exist yet nor misses the
    # render step's results when Fill runs on another worker.
    if "InputDir" in by_name:
        by_name["InputDir"]["dataFlow"] = "OUT"


def _set_gpu_memory(template: dict[str, Any], gpu_memory_mib: int) -> None:
    for step in template["steps"]:
        for amount in (step.get("hostRequirements") or {}).get("amounts", []):
            if amount.get("name") == "amount.worker.gpu.memory":
                amount["min"] = gpu_memory_mib


def _parameter_values(
    defined: Mapping[str, Mapping[str, Any]], resolved: Mapping[str, str], deadline_values: Mapping[str, Any]
) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    for name, value in resolved.items():
        kind = defined[name].get("type")
        typed: Any = int(value) if kind == "INT" else float(value) if kind == "FLOAT" else value
        rows.append({"name": name, "value": typed})
    # Deadline's own settings (priority, retries, worker count) are integers; -p gives text.
    rows.extend({"name": k, "value": _int_if_whole(v)} for k, v in deadline_values.items())
    return {"parameterValues": rows}


def _int_if_whole(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return value


def _asset_references(defined: Mapping[str, Mapping[str, Any]], resolved: Mapping[str, str]) -> dict[str, Any]:
    """Inputs and outputs from the PATH parameters' dataFlow and objectType, as Deadline derives them."""
    in_dirs: list[str] = []
    in_files: list[str] = []
    out_dirs: list[str] = []

    def add(bucket: list[str], value: str) -> None:
        if value not in bucket:
            bucket.append(value)

    for name, definition in defined.items():
        value = resolved.get(name, "")
        if definition.get("type") != "PATH" or not value:
            continue
        flow = definition.get("dataFlow", "NONE")
        is_file = definition.get("objectType") == "FILE"
        if "IN" in flow:
            add(in_files if is_file else in_dirs, value)
        if "OUT" in flow:
            # Job attachments collect output folders, so an output file contributes its folder.
            add(out_dirs, _folder_of(value) if is_file else value)
    return {
        "assetReferences": {
            "inputs": {"directories": in_dirs, "filenames": in_files},
            "outputs": {"directories": out_dirs},
        }
    }


def _dump(doc: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(doc), sort_keys=False, allow_unicode=True, width=1_000_000)


def bundle_template_path(bundle_dir: Path) -> Path:
    """The template file of a bundle folder (``template.yaml`` or ``template.json``).

    Raises:
        TemplateError: the folder holds no template.
    """
    for candidate in ("template.yaml", "template.yml", "template.json"):
        if (bundle_dir / candidate).is_file():
            return bundle_dir / candidate
    raise TemplateError(f"{bundle_dir} is not a job bundle: it has no template.yaml "
                        "(make one with framefill farm bundle)")


def read_bundle_values(bundle_dir: Path) -> dict[str, Any]:
    """The job parameter values of a bundle's ``parameter_values.yaml`` as a flat map.

    Deadline settings (``deadline:*``) are left out: they mean nothing to openjd.

    Raises:
        TemplateError: the file is not a ``parameterValues`` list.
    """
    for candidate in ("parameter_values.yaml", "parameter_values.yml", "parameter_values.json"):
        path = bundle_dir / candidate
        if path.is_file():
            break
    else:
        return {}
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as err:
        raise TemplateError(f"cannot read {path}: {' '.join(str(err).split())}") from err
    rows = doc.get("parameterValues") if isinstance(doc, dict) else None
    if not isinstance(rows, list) or not all(isinstance(r, dict) and "name" in r and "value" in r for r in rows):
        raise TemplateError(f"{path} must hold parameterValues: [{{name, value}}, ...]")
    return {str(r["name"]): r["value"] for r in rows if not str(r["name"]).startswith(_DEADLINE_PREFIX)}
