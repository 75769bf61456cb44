"""Third-party warnings kept off the user's terminal and recorded in the JSON ``warnings`` instead.

Libraries warn on their own: pydicom about header values that break their VR's rules (real GE PET headers
give "The value length (18) exceeds the maximum length of 16 allowed for VR SH" on every command), NumPy or
SimpleITK's Python layer through :mod:`warnings`. Printed as they come, they turn every one-line error into
three lines and mix with results. ``captured_warnings`` collects, for the duration of one command, Python
warnings and the records of the ``pydicom`` logger (pydicom's ``warn_and_log`` sends each message to both:
it is kept once), each message once with how often it came; deprecation warnings (about library APIs, not
the data) are dropped. ``print_json`` in ``StandardSegLib.cli.output`` appends them to a document's
``warnings``; text output leaves them out. pyradiomics' logger is handled by
``StandardSegLib.radiomics.extraction``. ``standardseg --debug`` does not capture (they print as usual).
"""

from __future__ import annotations

import logging
import warnings
from collections import Counter
from contextlib import contextmanager
from typing import Iterator, Optional

#: Loggers of libraries whose warnings are captured (records at WARNING and above).
CAPTURED_LOGGERS = ("pydicom",)
#: Warnings about library APIs, not about the user's data: captured (kept off the terminal) but not recorded.
API_WARNINGS = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)

_active: Optional["CapturedWarnings"] = None


class CapturedWarnings(logging.Handler):
    """Messages collected during one command (logger records and Python warnings), each counted once."""

    def __init__(self, caught: list[warnings.WarningMessage]) -> None:
        super().__init__(logging.WARNING)
        self._caught = caught
        self._counts: Counter[str] = Counter()
        self._logged: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage().strip()
        self._logged.add(message)
        self._counts[f"{record.name.split('.')[0]}: {message}"] += 1

    def messages(self) -> list[str]:
        """Every message so far, in first-seen order, with ``(N times)`` when repeated."""
        for item in self._caught:
            message = str(item.message).strip()
            if issubclass(item.category, API_WARNINGS):
                continue
            if message not in self._logged:  # pydicom's warn_and_log also logged it: counted there
                self._counts[f"{_package(item.filename)}: {message}"] += 1
        self._caught.clear()
        return [text if count == 1 else f"{text} ({count} times)" for text, count in self._counts.items()]


@contextmanager
def captured_warnings() -> Iterator[CapturedWarnings]:
    """Collect third-party warnings while the block runs; restore the warning filters and loggers after."""
    global _active
    loggers = [logging.getLogger(name) for name in CAPTURED_LOGGERS]
    saved = [(logger, logger.propagate) for logger in loggers]
    previous = _active
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sink = CapturedWarnings(caught)
        for logger in loggers:
            logger.addHandler(sink)
            logger.propagate = False  # the root logger (Python's last-resort handler) would print them
        _active = sink
        try:
            yield sink
        finally:
            _active = previous
            for logger, propagate in saved:
                logger.removeHandler(sink)
                logger.propagate = propagate


def pending_warnings() -> list[str]:
    """The third-party warnings collected so far in the running command (empty outside one)."""
    return [] if _active is None else _active.messages()


def _package(filename: str) -> str:
    """The top-level package a warning was raised in (``numpy`` for .../site-packages/numpy/...)."""
    path = filename.replace("\\", "/")
    return path.split("site-packages/")[-1].split("/")[0] if "site-packages/" in path else "python"
