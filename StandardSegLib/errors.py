"""Errors a user can read.

Each kind of bad input has its own exception type. The message names the file, tag or field and what was
expected, so the CLI (and the Slicer widget) can show it as one line without a traceback.
"""

from __future__ import annotations


class StandardSegError(Exception):
    """Base class: an error caused by the user's input or environment, shown as one line."""

    #: Exit status of the ``standardseg`` command for this kind of error.
    exit_code = 2


class ProtocolError(StandardSegError):
    """A protocol (SOP) file is missing, malformed or fails its schema."""


class InputError(StandardSegError):
    """An input image, mask, sidecar or parameter is unreadable or inconsistent."""


class DicomError(InputError):
    """A DICOM file or series is unusable; the message names the file and tag."""


class SUVError(InputError):
    """SUV cannot be computed safely; the message names the missing or contradictory tag."""


class Terminated(StandardSegError):
    """The process was asked to stop (SIGTERM, SIGHUP) while writing a bundle; the unfinished bundle was
    removed. Exits with the shell's status for death by that signal (128 + its number)."""

    def __init__(self, signal_name: str, exit_code: int) -> None:
        super().__init__(f"stopped by {signal_name}; the unfinished bundle was removed")
        self.exit_code = exit_code


class GateFailedError(StandardSegError):
    """The image-specification gate failed and was not overridden."""

    exit_code = 3
