"""The OpenJD job templates in ``openjd_templates/``: find, load, validate, expand.

Templates are plain ``jobtemplate-2023-09`` documents with the ``TASK_CHUNKING``
extension. They live at the top of the repository (farm admins read them there)
and ship inside the wheel as ``framefill.openjd_templates``. Everything here is
pure data work: no torch, no host module, no network.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from framefill.errors import InputError, SequenceError, TemplateError

__all__ = [
    "EXTENSIONS",
    "TEMPLATE_KINDS",
    "JobPlan",
    "StepPlan",
    "template_path",
    "templates_dir",
    "load_template",
    "read_template_file",
    "validate_template",
    "resolve_parameter_values",
    "plan_job",
    "parse_frames",
    "frames_to_str",
    "flatten_openjd_error",
]

# The extensions our templates use and Deadline Cloud runs. EXPR and WRAP_ACTIONS
# exist in openjd-cli but are local-only, so a template that needs them is refused.
EXTENSIONS: tuple[str, ...] = ("TASK_CHUNKING",)

TEMPLATE_KINDS: tuple[str, ...] = ("fill", "upscale", "qc", "sparse_pipeline", "upscale_video")

# Nuke writes "1001-1100x2" where OpenJD writes "1001-1100:2"; framefill accepts both.
_NUKE_STEP = re.compile(r"(?<=\d)\s*x\s*(?=\d)")


@dataclass(frozen=True)
class StepPlan:
    """One step of an instantiated job, in dependency order.

    ``tasks`` holds the step's task parameter sets as plain strings, e.g.
    ``[{"Frame": "1001-1008"}, {"Frame": "1009-1016"}]`` for a chunked step or
    ``[{}]`` for a step without a parameter space.
    """

    name: str
    depends_on: tuple[str, ...]
    tasks: tuple[dict[str, str], ...]
    chunk_parameter: str | None


@dataclass(frozen=True)
class JobPlan:
    """An instantiated job: its resolved name and its steps in dependency order."""

    name: str
    steps: tuple[StepPlan, ...]


def templates_dir() -> Path:
    """The folder that holds the ``*.yaml`` job templates.

    A wheel installs them as ``framefill/openjd_templates/``; a source checkout
    (``PYTHONPATH=core`` or an editable install) has them at the repository top.

    Raises:
        TemplateError: neither place has them.
    """
    package_root = Path(__file__).resolve().parents[1]
    for candidate in (package_root / "openjd_templates", package_root.parents[1] / "openjd_templates"):
        if (candidate / "fill.yaml").is_file():
            return candidate
    raise TemplateError(
        f"the framefill OpenJD templates are missing (looked in {package_root / 'openjd_templates'} and "
        f"{package_root.parents[1] / 'openjd_templates'}); reinstall framefill"
    )


def template_path(kind: str) -> Path:
    """Path of the template for ``kind`` (one of ``TEMPLATE_KINDS``).

    Raises:
        InputError: unknown kind.
    """
    if kind not in TEMPLATE_KINDS:
        raise InputError(f"unknown job kind {kind!r}; choose one of {', '.join(TEMPLATE_KINDS)}")
    return templates_dir() / f"{kind}.yaml"


def read_template_file(path: Path) -> dict[str, Any]:
    """Read a job template (YAML or JSON) into a dict.

    Raises:
        TemplateError: unreadable, not YAML, or not a mapping.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise TemplateError(f"cannot read job template {path}: {err.strerror or err}") from err
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        first = " ".join(str(err).split())
        raise TemplateError(f"job template {path} is not valid YAML/JSON: {first}") from err
    if not isinstance(doc, dict):
        raise TemplateError(f"job template {path} must be a mapping with specificationVersion, steps, ...")
    return doc


def load_template(kind: str) -> dict[str, Any]:
    """A fresh, mutable copy of the template for ``kind``."""
    return copy.deepcopy(read_template_file(template_path(kind)))


def flatten_openjd_error(err: BaseException) -> str:
    """One line from an openjd.model error: ``field -> path: message; ...``.

    openjd.model reports pydantic errors as a header line followed by pairs of
    ``steps[0] -> script:`` and tab-indented messages.
    """
    lines = [ln for ln in str(err).splitlines() if ln.strip()]
    if lines and re.match(r"^\d+ validation errors? for ", lines[0]):
        lines = lines[1:]
    parts: list[str] = []
    field: str | None = None
    for line in lines:
        if line.startswith(("\t", " ")):
            msg = " ".join(line.split())
            parts.append(f"{field}: {msg}" if field else msg)
            field = None
        elif line.rstrip().endswith(":"):
            if field:
                parts.append(field)
            field = line.strip()[:-1]
        else:
            if field:
                parts.append(field)
                field = None
            parts.append(" ".join(line.split()))
    if field:
        parts.append(field)
    return "; ".join(parts) if parts else type(err).__name__


def validate_template(template: Mapping[str, Any], *, where: str = "job template") -> Any:
    """Decode ``template`` with openjd.model; return the decoded ``JobTemplate``.

    Raises:
        TemplateError: the template does not validate (one line with field paths).
    """
    from openjd.model import DecodeValidationError, decode_job_template

    try:
        return decode_job_template(template=dict(template), supported_extensions=list(EXTENSIONS))
    except (DecodeValidationError, NotImplementedError, ValueError, TypeError) as err:
        raise TemplateError(f"{where} does not validate: {flatten_openjd_error(err)}") from err


def resolve_parameter_values(
    job_template: Any,
    values: Mapping[str, Any],
    *,
    template_dir: Path,
    where: str = "job template",
) -> dict[str, str]:
    """Check ``values`` against the template's parameter definitions and fill in defaults.

    Relative PATH values are made absolute against the current directory, as
    ``openjd run`` and the Deadline submitter do.

    Returns:
        Every job parameter's value as a string, in the template's order.

    Raises:
        TemplateError: unknown names, missing required values or values that
            break a constraint (minValue, allowedValues, ...).
    """
    from openjd.model import create_job, preprocess_job_parameters

    plain = {str(k): _as_param_text(v) for k, v in values.items()}
    try:
        resolved = preprocess_job_parameters(
            job_template=job_template,
            job_parameter_values=plain,
            job_template_dir=template_dir,
            current_working_dir=Path.cwd(),
            allow_job_template_dir_walk_up=True,
        )
        # Instantiating the job resolves the chunk ranges ("{{Param.Frames}}"), so a
        # bad range string fails here, at submit time, instead of on the farm.
        create_job(job_template=job_template, job_parameter_values=resolved)
    except (ValueError, TypeError) as err:  # DecodeValidationError is a ValueError
        raise TemplateError(f"{where}: bad job parameter values: {flatten_openjd_error(err)}") from err
    from framefill.frames.sequence import is_windows_spelling

    order = [p.name for p in (job_template.parameterDefinitions or [])]
    out = {name: str(resolved[name].value) for name in order if name in resolved}
    # openjd makes a path absolute against this machine's folder; a Windows spelling written on
    # Linux or macOS (C:\shots, \\srv\share) is already absolute for the Windows worker that reads it.
    for name, text in plain.items():
        if name in out and is_windows_spelling(text) and str(resolved[name].type.value) == "PATH":
            out[name] = text
    return out


def plan_job(job_template: Any, values: Mapping[str, str]) -> JobPlan:
    """The job's resolved name and its steps in dependency order with their chunk tasks.

    ``values`` must be the output of :func:`resolve_parameter_values`.

    Raises:
        TemplateError: the job cannot be instantiated or has a dependency cycle.
    """
    from openjd.model import (
        ParameterValue,
        ParameterValueType,
        StepParameterSpaceIterator,
        create_job,
    )

    types = {p.name: p.type.value for p in (job_template.parameterDefinitions or [])}
    params = {
        name: ParameterValue(type=ParameterValueType(types[name]), value=value)
        for name, value in values.items()
        if name in types
    }
    try:
        job = create_job(job_template=job_template, job_parameter_values=params)
    except (ValueError, TypeError) as err:
        raise TemplateError(f"cannot instantiate the job: {flatten_openjd_error(err)}") from err
    steps: dict[str, StepPlan] = {}
    for step in job.steps:
        space = step.parameterSpace
        iterator = StepParameterSpaceIterator(space=space)
        tasks = tuple({k: str(v.value) for k, v in task.items()} for task in iterator)
        deps = tuple(d.dependsOn for d in (step.dependencies or []))
        steps[step.name] = StepPlan(
            name=step.name,
            depends_on=deps,
            tasks=tasks,
            chunk_parameter=iterator.chunks_parameter_name,
        )
    return JobPlan(name=str(job.name), steps=tuple(_topological(steps)))


def _topological(steps: Mapping[str, StepPlan]) -> list[StepPlan]:
    order: list[StepPlan] = []
    placed: set[str] = set()
    pending = list(steps)
    while pending:
        ready = [n for n in pending if all(d in placed for d in steps[n].depends_on)]
        if not ready:
            raise TemplateError(f"the steps {', '.join(pending)} depend on each other in a cycle")
        for n in ready:
            order.append(steps[n])
            placed.add(n)
            pending.remove(n)
    return order


def parse_frames(text: str, *, what: str = "frame range") -> list[int]:
    """Frames of a range string: ``1001-1100``, ``1001-1100:2``, ``1001-1100x2``, ``1,5,9-12``.

    Returns:
        The frames, sorted and unique.

    Raises:
        SequenceError: the string is empty or not a range.
    """
    from openjd.model import ExpressionError, IntRangeExpr, TokenError

    cleaned = _NUKE_STEP.sub(":", str(text).strip()).replace(" ", "")
    if not cleaned:
        raise SequenceError(f"empty {what}; give frames like 1001-1100 or 1001-1100:2")
    try:
        return sorted(set(IntRangeExpr.from_str(cleaned)))
    except (ExpressionError, TokenError, ValueError) as err:
        raise SequenceError(
            f"bad {what} {text!r}: {' '.join(str(err).split())}; use e.g. 1001-1100, 1001-1100:2 or 1,5,9-12"
        ) from err


def frames_to_str(frames: Iterable[int]) -> str:
    """The shortest OpenJD range string for ``frames`` (e.g. ``1001-1099:2,1100``).

    Raises:
        SequenceError: no frames.
    """
    from openjd.model import IntRangeExpr

    values = sorted(set(frames))
    if not values:
        raise SequenceError("no frames left in the range")
    return str(IntRangeExpr.from_list(values))


def _as_param_text(value: Any) -> str:
    if isinstance(value, bool):
        raise TemplateError("job parameter values are strings, paths or numbers, not booleans")
    if isinstance(value, Path):
        return str(value)
    return str(value)
