"""Deadline Cloud job bundles from the framefill OpenJD templates.

A job bundle is a folder with ``template.yaml``, ``parameter_values.yaml``
(``parameterValues: [{name, value}]``) and ``asset_references.yaml``. The same
function serves the CLI (``framefill farm bundle``) and every host's "Submit to
Deadline Cloud" menu, so it takes plain strings, paths and ints. It never
imports torch.
"""

from __future__ import annotations

import copy
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from framefill.errors import InputError, TemplateError
from framefill.farm.templates import (
    frames_to_str,
    load_template,
    parse_frames,
    resolve_parameter_values,
    validate_template,
)

__all__ = ["BUNDLE_FILES", "make_bundle", "split_pattern", "bundle_template_path", "read_bundle_values"]

BUNDLE_FILES = ("template.yaml", "parameter_values.yaml", "asset_references.yaml")

# Where the QC report goes when the caller does not say: beside the outputs, so a
# job's results travel together (and Deadline downloads them with the outputs).
DEFAULT_REPORT_SUBDIR = "qc_report"

# Parameter values whose name starts with this go to parameter_values.yaml as they
# are (Deadline job settings such as deadline:priority, deadline:maxRetriesPerTask).
_DEADLINE_PREFIX = "deadline:"

_HEADER = "# Written by `framefill farm bundle` from openjd_templates/{kind}.yaml; edit the template, not this copy.\n"


def split_pattern(pattern: str | os.PathLike[str], *, what: str = "pattern") -> tuple[str, str]:
    """Split ``shots/a/beauty.####.exr`` into an absolute folder and a file pattern.

    Raises:
        InputError: the pattern has no file name.
    """
    text = os.fspath(pattern).strip()
    path = Path(text).expanduser()
    if not text or not path.name or text.endswith(("/", os.sep)):
        raise InputError(f"{what} {text!r} needs a file name with #### for the frame number, e.g. shot/beauty.####.exr")
    return str(path.parent.resolve()), path.name


def make_bundle(
    kind: str,
    *,
    out_dir: str | os.PathLike[str],
    params: Mapping[str, Any] | None = None,
    input_pattern: str | os.PathLike[str] | None = None,
    output_pattern: str | os.PathLike[str] | None = None,
    frames: str | None = None,
    keyframes: str | None = None,
    filled: str | None = None,
    chunk_size: int | None = None,
    model: str | None = None,
    report_dir: str | os.PathLike[str] | None = None,
    render_step: Mapping[str, Any] | None = None,
    render_parameters: Sequence[Mapping[str, Any]] = (),
    name: str | None = None,
    gpu_memory_mib: int | None = None,
) -> Path:
    """Write a Deadline Cloud job bundle for ``kind`` into ``out_dir`` and return ``out_dir``.

    ``kind`` is one of ``fill``, ``upscale``, ``qc``, ``sparse_pipeline``.
    ``params`` holds template parameter values by name (``{"Device": "cuda:0"}``,
    ``{"deadline:priority": 60}``); the keyword arguments are shortcuts that fill
    the same parameters: ``input_pattern`` -> InputDir + InputPattern,
    ``output_pattern`` -> OutputDir + OutputPattern, ``frames`` -> Frames,
    ``keyframes`` -> Keyframes, ``filled`` -> Filled (computed as frames minus
    keyframes when not given), ``chunk_size`` -> ChunkSize, ``model`` -> Model,
    ``report_dir`` -> ReportDir (default ``<OutputDir>/qc_report``).

    ``render_step`` is a host's own OpenJD step (a dict, e.g. a Blender or Nuke
    render of the keyframes). It is prepended, and every step of the template
    that had no dependency now depends on it, so Fill waits for the render. Its
    extra job parameters go in ``render_parameters`` (OpenJD parameter
    definitions); their values go in ``params``. With a render step the input
    folder is written by the job itself, so it is declared an output.

    ``gpu_memory_mib`` replaces the ``amount.worker.gpu.memory`` minimum of the
    GPU steps; ``name`` replaces the job name.

    Paths are made absolute against the current directory. The template is
    validated with openjd.model (TASK_CHUNKING) and the parameter values are
    checked against it before anything is written.

    Raises:
        InputError: unknown kind, bad shortcut value, parameter given twice.
        SequenceError: a frame range that does not parse, or nothing to fill.
        TemplateError: the resulting template or its parameter values do not validate.
    """
    template = load_template(kind)
    defined = {p["name"]: p for p in template.get("parameterDefinitions", [])}
    values: dict[str, Any] = {}
    deadline_values: dict[str, Any] = {}
    for key, value in (params or {}).items():
        if str(key).startswith(_DEADLINE_PREFIX):
            deadline_values[str(key)] = value
        else:
            values[str(key)] = value

    def put(param: str, value: Any, flag: str) -> None:
        if value is None:
            return
        if param not in defined:
            raise InputError(f"{flag} does not apply to a {kind} job (its template has no {param} parameter)")
        if param in values and str(values[param]) != str(value):
            raise InputError(f"{param} given twice ({values[param]!r} and {value!r} from {flag}); give it once")
        values[param] = value

    if input_pattern is not None:
        in_dir, in_name = split_pattern(input_pattern, what="input pattern")
        put("InputDir", in_dir, "--input")
        put("InputPattern", in_name, "--input")
    if output_pattern is not None:
        out_dir_value, out_name = split_pattern(output_pattern, what="output pattern")
        put("OutputDir", out_dir_value, "--output")
        put("OutputPattern", out_name, "--output")
    put("Frames", None if frames is None else _range_text(frames, "--frames"), "--frames")
    put("Keyframes", None if keyframes is None else _range_text(keyframes, "--keyframes"), "--keyframes")
    put("Filled", None if filled is None else _range_text(filled, "--filled"), "--filled")
    put("ChunkSize", chunk_size, "--chunk-size")
    put("Model", model, "--model")
    put("ReportDir", None if report_dir is None else str(Path(report_dir).expanduser().resolve()), "--report")
    _derive_values(kind, defined, values)

    if render_step is not None:
        _prepend_render_step(template, render_step, render_parameters)
        defined = {p["name"]: p for p in template["parameterDefinitions"]}
    elif render_parameters:
        raise InputError("render_parameters were given without a render_step")
    if gpu_memory_mib is not None:
        _set_gpu_memory(template, gpu_memory_mib)
    if name is not None:
        if not str(name).strip():
            raise InputError("the job name must not be empty")
        template["name"] = str(name)

    unknown = sorted(set(values) - set(defined))
    if unknown:
        raise TemplateError(
            f"{kind} job has no parameter {', '.join(unknown)}; its parameters are {', '.join(defined)}"
        )
    where = f"{kind} job template"
    job_template = validate_template(template, where=where)
    out_path = Path(out_dir).expanduser().resolve()
    resolved = resolve_parameter_values(job_template, values, template_dir=out_path, where=where)

    out_path.mkdir(parents=True, exist_ok=True)
    body = yaml.safe_dump(template, sort_keys=False, allow_unicode=True, width=1_000_000)
    _write_atomic(out_path / "template.yaml", _HEADER.format(kind=kind) + body)
    _write_atomic(out_path / "parameter_values.yaml", _dump(_parameter_values(defined, resolved, deadline_values)))
    _write_atomic(out_path / "asset_references.yaml", _dump(_asset_references(defined, resolved)))
    return out_path


def _range_text(text: str, flag: str) -> str:
    """Validate a frame range and return it in OpenJD syntax (Nuke's ``x`` step becomes ``:``)."""
    return frames_to_str(parse_frames(str(text), what=f"{flag} range"))


def _derive_values(kind: str, defined: Mapping[str, Any], values: dict[str, Any]) -> None:
    """Fill the parameters that follow from others: Filled and ReportDir."""
    if "Filled" in defined and "Filled" not in values:
        if "Frames" in values and "Keyframes" in values:
            every = parse_frames(str(values["Frames"]), what="Frames")
            rendered = set(parse_frames(str(values["Keyframes"]), what="Keyframes"))
            rest = [f for f in every if f not in rendered]
            if not rest:
                raise InputError(
                    f"every frame of {values['Frames']} is a keyframe, so there is nothing to fill; render fewer frames"
                )
            values["Filled"] = frames_to_str(rest)
        elif kind == "qc":
            raise InputError("a qc job needs the filled frames: give --filled RANGE (or --frames and --keyframes)")
    if "Keyframes" in values and "Frames" in values:
        outside = set(parse_frames(str(values["Keyframes"]), what="Keyframes")) - set(
            parse_frames(str(values["Frames"]), what="Frames")
        )
        if outside:
            raise InputError(
                f"keyframes {frames_to_str(outside)} lie outside Frames {values['Frames']}; widen Frames or drop them"
            )
    if "ReportDir" in defined and "ReportDir" not in values and "OutputDir" in values:
        values["ReportDir"] = str(Path(str(values["OutputDir"])) / DEFAULT_REPORT_SUBDIR)


def _prepend_render_step(
    template: dict[str, Any], render_step: Mapping[str, Any], render_parameters: Sequence[Mapping[str, Any]]
) -> None:
    step = copy.deepcopy(dict(render_step))
    step_name = step.get("name")
    if not isinstance(step_name, str) or not step_name:
        raise TemplateError("the render step needs a name (an OpenJD step dict with name and script)")
    steps: list[dict[str, Any]] = template["steps"]
    if any(s["name"] == step_name for s in steps):
        raise TemplateError(f"the render step is named {step_name!r}, like a framefill step; rename it")
    for s in steps:
        if not s.get("dependencies"):
            s["dependencies"] = [{"dependsOn": step_name}]
    template["steps"] = [step, *steps]

    params: list[dict[str, Any]] = template.setdefault("parameterDefinitions", [])
    by_name = {p["name"]: p for p in params}
    for extra in render_parameters:
        definition = copy.deepcopy(dict(extra))
        existing = by_name.get(str(definition.get("name")))
        if existing is None:
            params.append(definition)
            by_name[definition["name"]] = definition
        elif existing != definition:
            raise TemplateError(
                f"render parameter {definition.get('name')!r} clashes with framefill's own definition; rename it"
            )
    # The job renders the keyframes itself, so the input folder is one of its outputs:
    # Deadline then neither uploads a folder that does not exist yet nor misses the
    # render step's results when Fill runs on another worker.
    if "InputDir" in by_name:
        by_name["InputDir"]["dataFlow"] = "OUT"


def _set_gpu_memory(template: dict[str, Any], gpu_memory_mib: int) -> None:
    if isinstance(gpu_memory_mib, bool) or not isinstance(gpu_memory_mib, int) or gpu_memory_mib < 1:
        raise InputError(f"gpu_memory_mib must be a whole number of MiB >= 1, got {gpu_memory_mib!r}")
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
            add(out_dirs, str(Path(value).parent) if is_file else value)
    return {
        "assetReferences": {
            "inputs": {"directories": in_dirs, "filenames": in_files},
            "outputs": {"directories": out_dirs},
        }
    }


def _dump(doc: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(doc), sort_keys=False, allow_unicode=True, width=1_000_000)


def _write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temp file in the same folder, then rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def bundle_template_path(bundle_dir: Path) -> Path:
    """The template file of a bundle folder (``template.yaml`` or ``template.json``).

    Raises:
        TemplateError: the folder holds no template.
    """
    for candidate in ("template.yaml", "template.yml", "template.json"):
        if (bundle_dir / candidate).is_file():
            return bundle_dir / candidate
    raise TemplateError(f"{bundle_dir} is not a job bundle: it has no template.yaml (make one with framefill farm bundle)")


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
