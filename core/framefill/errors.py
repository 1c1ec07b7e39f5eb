"""Errors framefill raises on purpose.

Every message is one line that says what went wrong, where (file or frame) and
what to do about it. The CLI prints ``framefill: error: <msg>`` and exits with
``exit_code``: 2 for bad usage or bad input, 1 for a job that ran but failed.
"""

from __future__ import annotations

__all__ = [
    "FramefillError",
    "InputError",
    "RequestError",
    "SequenceError",
    "ExrError",
    "ColorError",
    "UnsupportedModelError",
    "ModelNotFoundError",
    "WeightsMismatchError",
    "DeviceError",
    "TemplateError",
    "FarmError",
    "JobFailedError",
    "CancelledError",
]


class FramefillError(Exception):
    """Base class. ``msg`` is the single line shown to the user."""

    exit_code: int = 2

    def __init__(self, msg: str) -> None:
        super().__init__(msg)
        self.msg = " ".join(str(msg).split())  # one line, always


class InputError(FramefillError):
    """Bad input: a path, a value or an option that cannot be used."""


class RequestError(InputError):
    """A request field with a bad value. ``field`` names it; the CLI shows its flag instead.

    The message reads ``<field> <detail>``, e.g. ``scale must be a number above 0, got nan``.
    """

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"{field} {detail}")
        self.field = field
        self.detail = detail

    def renamed(self, name: str) -> RequestError:
        """The same error under another name for the field (a CLI flag, a host's knob)."""
        err = RequestError(name, self.detail)
        err.field = self.field
        return err


class SequenceError(InputError):
    """A frame pattern, range or sequence on disk that cannot be used."""


class ExrError(InputError):
    """An image file that cannot be read or written (corrupt, truncated, deep, too large)."""


class ColorError(InputError):
    """An unknown colour space or OCIO config."""


class UnsupportedModelError(InputError):
    """A weights file whose architecture no registered spec recognises."""

    def __init__(self, msg: str, tried: tuple[str, ...] = ()) -> None:
        if tried:
            msg = f"{msg} (tried: {', '.join(tried)})"
        super().__init__(msg)
        self.tried = tried


class ModelNotFoundError(InputError):
    """A model that is not in the cache and could not be fetched."""


class WeightsMismatchError(InputError):
    """A weights file whose sha256 differs from the model card."""


class DeviceError(InputError):
    """A device that does not exist or cannot run the request."""


class TemplateError(InputError):
    """An OpenJD template or job bundle that does not validate."""


class FarmError(FramefillError):
    """A farm action (submit, local run) that could not be done."""


class JobFailedError(FramefillError):
    """The job ran but did not finish its work (frames still missing, tasks failed)."""

    exit_code = 1


class CancelledError(FramefillError):
    """The user cancelled; finished outputs are kept and a rerun resumes."""

    exit_code = 1
