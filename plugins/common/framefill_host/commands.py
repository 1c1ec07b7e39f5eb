"""The ``framefill`` command lines the host adapters run (argument lists, never shell strings).

Each builder takes ``cli``, the command that starts framefill (from
:func:`framefill_host.runner.resolve_cli`), and returns the whole argument
list ending in ``--events`` (or ``--json`` where a host wants one document).
Patterns are converted to framefill's hash form and ranges to its range
syntax here, so every host passes its own spellings.
"""

import shlex
from typing import List, Mapping, Optional, Sequence

from framefill_host import HostError
from framefill_host.patterns import nuke_range_to_framefill, to_framefill

__all__ = [
    "BUNDLE_KINDS",
    "split_extra",
    "interpolate_argv",
    "upscale_argv",
    "qc_argv",
    "bundle_argv",
    "export_nuke_argv",
]

# `framefill farm bundle KIND`: the job kinds of the OpenJD templates.
BUNDLE_KINDS = ("fill", "upscale", "qc", "sparse_pipeline")


def split_extra(text: Optional[str]) -> List[str]:
    """Extra CLI options typed by a user (``--mode recursive --no-cut-detection``) as a list.

    POSIX quoting rules; a backslash is kept as is on Windows, where paths use it.

    Raises:
        HostError: unbalanced quotes.
    """
    if not text or not text.strip():
        return []
    import os

    try:
        return shlex.split(text, posix=os.name != "nt")
    except ValueError as err:
        raise HostError("cannot read the extra options {!r}: {}".format(text, err)) from None


def _range(text: Optional[str]) -> Optional[str]:
    return nuke_range_to_framefill(text) if text and text.strip() else None


def _opt(argv: List[str], flag: str, value: object) -> None:
    if value is None or value == "":
        return
    argv += [flag, str(value)]


def _float(value: float) -> str:
    """A float as the shortest text that reads back the same (``0.5``, ``1.0``)."""
    return repr(float(value))


def interpolate_argv(
    cli: Sequence[str],
    *,
    input_pattern: str,
    output_pattern: str,
    frames: Optional[str] = None,
    model: Optional[str] = None,
    device: Optional[str] = None,
    mode: Optional[str] = None,
    scale: Optional[float] = None,
    extra: Sequence[str] = (),
) -> List[str]:
    """``framefill interpolate IN --out OUT [--frames R] [--model M] [--device D] [--mode M] [--scale S] --events``."""
    argv = [*cli, "interpolate", to_framefill(input_pattern), "--out", to_framefill(output_pattern)]
    _opt(argv, "--frames", _range(frames))
    _opt(argv, "--model", model)
    _opt(argv, "--device", device)
    _opt(argv, "--mode", mode)
    if scale is not None:
        argv += ["--scale", _float(scale)]
    return [*argv, *extra, "--events"]


def upscale_argv(
    cli: Sequence[str],
    *,
    input_pattern: str,
    output_pattern: str,
    frames: Optional[str] = None,
    model: Optional[str] = None,
    device: Optional[str] = None,
    scale: Optional[int] = None,
    size: Optional[str] = None,
    tile_px: Optional[int] = None,
    extra: Sequence[str] = (),
) -> List[str]:
    """``framefill upscale IN --out OUT [--frames R] [--model M] [--scale N | --size WxH] [--tile PX] --events``.

    Raises:
        HostError: both a scale and a size.
    """
    if scale is not None and size:
        raise HostError("give an upscale factor or an output size, not both")
    argv = [*cli, "upscale", to_framefill(input_pattern), "--out", to_framefill(output_pattern)]
    _opt(argv, "--frames", _range(frames))
    _opt(argv, "--model", model)
    _opt(argv, "--device", device)
    _opt(argv, "--scale", scale)
    _opt(argv, "--size", size)
    if tile_px:
        argv += ["--tile", str(int(tile_px))]
    return [*argv, *extra, "--events"]


def qc_argv(
    cli: Sequence[str],
    *,
    pattern: str,
    filled: Optional[str] = None,
    truth: Optional[str] = None,
    report_dir: Optional[str] = None,
    threshold_db: Optional[float] = None,
    extra: Sequence[str] = (),
) -> List[str]:
    """``framefill qc PATTERN [--filled R] [--truth PATTERN] [--report DIR] [--threshold DB] --events``."""
    argv = [*cli, "qc", to_framefill(pattern)]
    _opt(argv, "--filled", _range(filled))
    if truth:
        argv += ["--truth", to_framefill(truth)]
    _opt(argv, "--report", report_dir)
    if threshold_db is not None:
        argv += ["--threshold", _float(threshold_db)]
    return [*argv, *extra, "--events"]


def bundle_argv(
    cli: Sequence[str],
    *,
    kind: str,
    out_dir: str,
    input_pattern: Optional[str] = None,
    output_pattern: Optional[str] = None,
    frames: Optional[str] = None,
    filled: Optional[str] = None,
    model: Optional[str] = None,
    report_dir: Optional[str] = None,
    chunk_size: Optional[int] = None,
    name: Optional[str] = None,
    params: Optional[Mapping[str, object]] = None,
    keyframes: Optional[str] = None,
    render_step: Optional[str] = None,
) -> List[str]:
    """``framefill farm bundle KIND --out DIR [...] [--render-step FILE] [-p NAME=VALUE ...] --events``.

    What ``framefill.api.make_bundle`` writes, every value checked by the CLI.
    ``keyframes``: the frames a sparse_pipeline job renders. ``render_step``: a
    YAML or JSON file holding the host's own OpenJD ``step`` (and the
    ``parameterDefinitions`` it needs), put first in the job; give those
    parameters' values in ``params``.

    Raises:
        HostError: an unknown kind.
    """
    if kind not in BUNDLE_KINDS:
        raise HostError("unknown job kind {!r}; use one of {}".format(kind, ", ".join(BUNDLE_KINDS)))
    argv = [*cli, "farm", "bundle", kind, "--out", out_dir]
    if input_pattern:
        argv += ["--input", to_framefill(input_pattern)]
    if output_pattern:
        argv += ["--output", to_framefill(output_pattern)]
    _opt(argv, "--frames", _range(frames))
    _opt(argv, "--keyframes", _range(keyframes))
    _opt(argv, "--filled", _range(filled))
    _opt(argv, "--model", model)
    _opt(argv, "--report", report_dir)
    _opt(argv, "--chunk-size", chunk_size)
    _opt(argv, "--name", name)
    _opt(argv, "--render-step", render_step)
    for key in sorted(params or {}):
        argv += ["-p", "{}={}".format(key, params[key])]  # type: ignore[index]
    return [*argv, "--events"]


def export_nuke_argv(cli: Sequence[str], *, model: str, out_dir: str) -> List[str]:
    """``framefill export nuke --model NAME --out DIR --events``."""
    return [*cli, "export", "nuke", "--model", model, "--out", out_dir, "--events"]
