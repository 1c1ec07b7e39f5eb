"""The ``framefill`` command.

Output modes (DESIGN.md, CLI contract): human text with a progress bar by
default, one JSON document with ``--json``, or JSON lines with ``--events``.
Exit codes: 0 success, 1 a job that ran but failed, 2 bad usage or bad input.

Sub-commands live beside the code they drive and are attached lazily here, so
``framefill --help`` stays fast and never imports torch.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import click

from framefill._version import __version__
from framefill.errors import FramefillError, RequestError
from framefill.events import Event

__all__ = ["main", "cli", "Output", "output_options", "run_command", "named_flags"]


@dataclass
class Output:
    """Where a command's progress and result go, chosen by --json / --events."""

    mode: str = "human"  # human | json | events
    quiet: bool = False
    _progress: Any = field(default=None, repr=False)
    _tasks: dict[str, Any] = field(default_factory=dict, repr=False)
    warnings: list[str] = field(default_factory=list)
    _result_sent: bool = field(default=False, repr=False)

    # -- events from the pipelines -------------------------------------------------
    def report(self, event: Event) -> None:
        """A ``Reporter`` for the pipelines."""
        if self.mode == "events":
            click.echo(event.to_json())
            sys.stdout.flush()
            return
        if event.kind == "warning":
            self.warnings.append(event.message)
            if self.mode == "human":
                self._console().print(f"[yellow]warning:[/yellow] {event.message}", highlight=False)
            return
        if self.mode != "human" or self.quiet:
            return
        if event.kind in ("progress", "frame") and event.total:
            bar = self._bar(event.stage or "work", event.total)
            if event.done is not None:
                self._progress.update(bar, completed=event.done, description=_label(event))
        elif event.kind in ("start", "done") and event.message:
            self._console().print(event.message, highlight=False)

    def _console(self) -> Any:
        from rich.console import Console

        if self._progress is not None:
            return self._progress.console
        return Console(stderr=True)

    def _bar(self, stage: str, total: int) -> Any:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        if self._progress is None:
            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                transient=False, console=_stderr_console(),
            )
            self._progress.start()
        if stage not in self._tasks:
            self._tasks[stage] = self._progress.add_task(stage, total=total)
        return self._tasks[stage]

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    # -- the result -------------------------------------------------------------
    def result(self, payload: dict[str, Any], human: Callable[[], None] | None = None) -> None:
        """Print the command's result in the chosen mode."""
        self.close()
        self._result_sent = True
        if self.mode == "json":
            if self.warnings:
                payload = {**payload, "warnings": self.warnings}
            click.echo(json.dumps(payload, indent=2, sort_keys=True, default=str))
        elif self.mode == "events":
            click.echo(Event(kind="done", message="", data=payload).to_json())
        elif human is not None:
            human()

    def error(self, err: FramefillError) -> None:
        """Report a failure: one line on stderr, plus a JSON record unless the result already went out."""
        self.close()
        if self._result_sent:
            pass
        elif self.mode == "events":
            click.echo(Event(kind="error", message=err.msg, data={"exit_code": err.exit_code}).to_json())
        elif self.mode == "json":
            click.echo(json.dumps({"error": err.msg, "exit_code": err.exit_code}))
        # The one line a person reads goes to stderr in every mode.
        click.echo(f"framefill: error: {err.msg}", err=True)


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def _label(event: Event) -> str:
    if event.frame is not None:
        return f"{event.stage} {event.frame}"
    return event.stage


def output_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Add --json / --events / --quiet to a command and pass ``out: Output``."""
    fn = click.option("--quiet", "-q", is_flag=True, help="No progress bar.")(fn)
    fn = click.option("--events", "events_mode", is_flag=True,
                      help="Stream JSON lines (progress, frame, warning, error, done) for hosts and farm tasks.")(fn)
    fn = click.option("--json", "json_mode", is_flag=True, help="Print one JSON document with the result.")(fn)
    return fn


def make_output(json_mode: bool, events_mode: bool, quiet: bool) -> Output:
    if json_mode and events_mode:
        raise click.UsageError("--json and --events cannot be used together")
    return Output(mode="events" if events_mode else "json" if json_mode else "human", quiet=quiet)


@contextmanager
def named_flags(flags: Mapping[str, str]) -> Iterator[None]:
    """Re-raise a request's field error under the command's own flag.

    ``flags`` maps request fields to what the user typed (``output_pattern`` ->
    ``--out``, ``input_pattern`` -> ``PATTERN``); any other field becomes
    ``--field-name``.
    """
    try:
        yield
    except RequestError as err:
        raise err.renamed(flags.get(err.field, "--" + err.field.replace("_", "-"))) from None


@contextmanager
def run_command(out: Output) -> Iterator[Output]:
    """Turn framefill errors into one line and the right exit code."""
    try:
        yield out
    except FramefillError as err:
        out.error(err)
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        out.error(FramefillError("interrupted; finished frames are kept and a rerun resumes"))
        sys.exit(130)
    except BrokenPipeError:
        # The reader went away (`framefill qc ... | head`): stop quietly, as Unix tools do; the
        # work is done and recorded. Later writes to stdout go nowhere instead of failing again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    except (OSError, MemoryError) as err:
        # Disk full, permissions, out of memory: not bugs, but nothing we chose to raise.
        msg = f"{type(err).__name__}: {err}"
        out.error(FramefillError(msg))
        sys.exit(1)
    finally:
        out.close()


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="framefill")
def cli() -> None:
    """framefill: render fewer frames and fewer pixels, let ML fill in the rest,
    and know exactly which frames still need a real render.

    \b
    Patterns: shot/beauty.####.exr, %04d, $F4, @@@@
    Ranges:   1001-1100, 1001-1100x2, 1001-1100:2, 1,5,9-12
    Exit codes: 0 ok, 1 job failed (e.g. frames still missing), 2 bad usage or input.
    """


def _attach_subcommands() -> None:
    # Each module registers its commands on `cli` when imported. Imports are cheap:
    # the modules import torch and the pipelines only inside their command bodies.
    from framefill import commands  # noqa: F401


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    from framefill import api

    _attach_subcommands()
    api.keep_freed_memory(True)  # framefill's own process: freed buffers are reused (a budgeted job gives them back)
    debug = os.environ.get("FRAMEFILL_DEBUG") == "1"
    try:
        code = cli.main(args=argv, prog_name="framefill", standalone_mode=False)
    except FramefillError as err:  # raised outside run_command (e.g. while parsing)
        if debug:
            raise
        click.echo(f"framefill: error: {err.msg}", err=True)
        sys.exit(err.exit_code)
    except click.exceptions.NoArgsIsHelpError as err:  # `framefill`, `framefill farm`: the help, as before
        click.echo(err.ctx.get_help() if err.ctx is not None else err.format_message(), err=True)
        sys.exit(err.exit_code)
    except click.UsageError as err:
        # One line, like every other framefill error, instead of click's usage block.
        where = f"; see `{err.ctx.command_path} --help`" if err.ctx is not None else ""
        message = " ".join(err.format_message().split()).rstrip(".")
        click.echo(f"framefill: error: {message}{where}", err=True)
        sys.exit(err.exit_code)
    except click.Abort:
        click.echo("framefill: error: aborted", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
