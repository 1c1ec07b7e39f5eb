"""framefill on a render farm: OpenJD job templates, Deadline Cloud job bundles,
submission and local runs.

- :func:`write_bundle` writes a Deadline Cloud job bundle from a template in
  ``openjd_templates/`` for a :class:`~framefill.requests.BundleRequest` (the
  CLI's ``farm bundle``, which every host's submitter runs).
- :func:`submit_bundle` submits a bundle through the ``deadline`` client.
- :func:`run_local` runs a bundle or template on this machine with ``openjd run``.

Nothing here imports torch or a host module; openjd and deadline are imported
only inside the functions that need them.
"""

from __future__ import annotations

from framefill.farm.bundle import (
    BUNDLE_FILES,
    BundleResult,
    split_pattern,
    write_bundle,
)
from framefill.farm.local import LocalRun, WorkerRun, run_local
from framefill.farm.submit import submit_bundle
from framefill.farm.templates import (
    EXTENSIONS,
    TEMPLATE_KINDS,
    load_template,
    parse_frames,
    template_path,
    templates_dir,
    validate_template,
)

__all__ = [
    "BUNDLE_FILES",
    "BundleResult",
    "EXTENSIONS",
    "TEMPLATE_KINDS",
    "LocalRun",
    "WorkerRun",
    "load_template",
    "parse_frames",
    "run_local",
    "split_pattern",
    "submit_bundle",
    "template_path",
    "templates_dir",
    "validate_template",
    "write_bundle",
]
