"""A TOP work item's command: run one framefill command and report its outputs to PDG.

``python -m framefill_houdini.pdg_task [--tag TAG] -- FRAMEFILL ARGV... --events``

Follows the CLI's ``--events`` and prints one ``OUTPUT_FILE:path;tag`` line per
frame framefill wrote (``interpolate``/``upscale``: the ``--out`` pattern at
that frame) or, for ``qc``, the report's ``qc.json``: the lines PDG reads from a
job's output, as ROP Fetch jobs report theirs. Progress goes to stdout as
plain lines. Exit code 0 when framefill ran (exit 1, frames that still need a
render, is a result here: qc reports them), else framefill's code. Standard
library and ``framefill_host`` only: runs in any Python 3.9+ with them on the path.
"""

import sys
from typing import Callable, List, Optional, Sequence

from framefill_host.events import HostEvent
from framefill_host.patterns import frame_path
from framefill_host.runner import EXIT_JOB_FAILED, RunOutcome, run_cli

__all__ = ["output_line", "main"]

# A frame event with this status wrote no file (it still needs a real render).
NOT_WRITTEN = ("held",)


def output_line(path: str, tag: str) -> str:
    return "OUTPUT_FILE:{};{}".format(path, tag)


def _option(argv: Sequence[str], flag: str) -> Optional[str]:
    for i, arg in enumerate(argv[:-1]):
        if arg == flag:
            return argv[i + 1]
    return None


def main(args: Optional[List[str]] = None, *, out: Callable[[str], None] = print) -> int:
    args = list(sys.argv[1:] if args is None else args)
    tag = "file/image"
    if len(args) >= 2 and args[0] == "--tag":
        tag, args = args[1], args[2:]
    if not args or args[0] != "--" or len(args) < 2:
        out("framefill pdg_task: usage: pdg_task [--tag TAG] -- FRAMEFILL ARGV... --events")
        return 2
    argv = args[1:]
    pattern = _option(argv, "--out")

    def on_event(event: HostEvent) -> None:
        if event.kind == "frame" and pattern and event.frame is not None:
            if str(event.data.get("status", "")) not in NOT_WRITTEN:
                out(output_line(frame_path(pattern, event.frame), tag))
        elif event.kind in ("progress", "warning") and event.message:
            out("framefill {}: {}".format(event.kind, event.message))

    outcome: RunOutcome = run_cli(argv, on_event=on_event)
    if outcome.status in ("ok", "failed"):
        report = (outcome.result or {}).get("qc_json")
        if isinstance(report, str):
            out(output_line(report, tag))
        if outcome.status == "failed":
            out("framefill: {}".format(outcome.message))
        return 0
    out("framefill: {}".format(outcome.message))
    return outcome.exit_code if outcome.exit_code not in (None, 0) else EXIT_JOB_FAILED


if __name__ == "__main__":
    sys.exit(main())
