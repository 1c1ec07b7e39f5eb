"""Send the re-render list on: a Deadline Cloud job bundle through :func:`framefill.api.make_bundle`.

The bundle is framefill's ``sparse_pipeline`` over the shot's range, with the
frames rendered so far plus the re-render list as its keyframes: once the
listed frames are rendered into the shot's render folder (the manifest's job
``input``), its Fill step copies them into the filled shot bit-exact and
refills the frames beside them from the closer renders, QC rescores the fills
and Report rewrites qc.json and report.html. When every fill is listed there
is nothing left to fill or score, and the bundle is a ``fill`` job that only
copies the renders in. framefill does not render: the
frames are rendered by the studio's own submitter, or by a host's render step
(``framefill farm bundle sparse_pipeline --render-step FILE``).

With ``deadline[gui]`` importable the Deadline Cloud submitter opens on the
bundle (its own process, ``deadline bundle gui-submit``); otherwise the bundle
stays in the chosen folder for ``deadline bundle submit``.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from framefill.api import make_bundle
from framefill.errors import FarmError, InputError
from framefill.farm.bundle import BundleResult
from framefill.requests import BundleRequest
from framefill.review.shot import ReviewShot, openjd_range

__all__ = ["Submitted", "rerender_request", "submit_rerenders", "gui_submitter_available", "gui_submit_argv"]


@dataclass(frozen=True)
class Submitted:
    """A written re-render bundle, and whether the Deadline Cloud submitter was opened on it."""

    bundle: BundleResult
    frames: tuple[int, ...]
    opened_submitter: bool

    def message(self) -> str:
        what = "opened the Deadline Cloud submitter on" if self.opened_submitter else "saved"
        return (f"{what} the re-render bundle for {openjd_range(self.frames)} in {self.bundle.folder}"
                + ("" if self.opened_submitter else "; submit it with `deadline bundle submit`"))


def rerender_request(shot: ReviewShot, out_dir: str | Path) -> BundleRequest:
    """The ``sparse_pipeline`` bundle that takes the re-render list in as renders and refills and rescores the shot.

    Raises:
        InputError: no manifest, an empty re-render list, or a manifest that does not name the render folder.
    """
    message = shot.no_manifest_message()
    if message is not None:
        raise InputError(message)
    listed = shot.rerender()
    if not listed:
        raise InputError(f"the re-render list of {shot.pattern} is empty: nothing to submit")
    source = shot.job.get("input")
    if not isinstance(source, str) or not source:
        raise InputError(f"the manifest of {shot.pattern} does not name the folder its renders came from; refill the "
                         "shot with `framefill interpolate` to record it")
    frames = tuple(f for f, r in shot.frames.items() if r.status != "frame")
    keys = sorted(set(shot.rendered()) | set(listed))
    model = shot.job.get("model")
    # With every fill listed nothing is left to fill or score: the job only copies the renders in.
    kind: Literal["sparse_pipeline", "fill"] = "sparse_pipeline" if len(keys) < len(frames) else "fill"
    return BundleRequest(kind, Path(out_dir), input_pattern=source, output_pattern=shot.pattern,
                         frames=openjd_range(frames),
                         keyframes=openjd_range(keys) if kind == "sparse_pipeline" else None,
                         model=model if isinstance(model, str) and model else None,
                         name=f"framefill re-render {openjd_range(listed)}")


def gui_submitter_available() -> bool:
    """True when the Deadline Cloud client and its GUI (``deadline[gui]``: a Qt binding for qtpy) import."""
    try:
        importlib.import_module("deadline.client.ui")
        importlib.import_module("qtpy.QtWidgets")
    except (ImportError, RuntimeError):  # qtpy raises a RuntimeError subclass when no Qt binding fits
        return False
    return True


def gui_submit_argv(bundle_dir: str | Path) -> list[str]:
    """The Deadline Cloud submitter dialog on a bundle, in its own process."""
    return [sys.executable, "-m", "deadline", "bundle", "gui-submit", str(bundle_dir),
            "--submitter-info", "submitter_name=framefill",
            "--submitter-info", "host_application_name=framefill review"]


def submit_rerenders(shot: ReviewShot, out_dir: str | Path, *, open_gui: bool | None = None) -> Submitted:
    """Write the re-render bundle into ``out_dir``; open the submitter on it when ``deadline[gui]`` imports.

    ``open_gui``: None decides by :func:`gui_submitter_available`.

    Raises:
        InputError, RequestError, TemplateError: see :func:`rerender_request` and :func:`framefill.api.make_bundle`.
        FarmError: the submitter could not be started.
    """
    request = rerender_request(shot, out_dir)
    bundle = make_bundle(request)
    opened = gui_submitter_available() if open_gui is None else open_gui
    if opened:
        try:
            subprocess.Popen(gui_submit_argv(bundle.folder), stdin=subprocess.DEVNULL, start_new_session=True)
        except OSError as err:
            raise FarmError(f"cannot open the Deadline Cloud submitter: {err.strerror or err}; the bundle is in "
                            f"{bundle.folder}") from None
    return Submitted(bundle, shot.rerender(), opened)
