"""A dependency-free terminal progress bar implementing ``StandardSegLib.progress.ProgressCallback``."""

from __future__ import annotations

import sys
import time
from typing import Optional, TextIO


class TerminalProgress:
    """Draws ``[#####.....]  42%  message`` on stderr when it is a terminal.

    On anything else (a pipe, a log file, CI) it stays silent, so scripted callers see only results and
    the one-line errors.
    """

    def __init__(self, stream: Optional[TextIO] = None, width: int = 30) -> None:
        # Resolve stderr at construction, not import, so redirected/captured stderr is honoured.
        self._stream = stream if stream is not None else sys.stderr
        self._width = width
        self._enabled = self._stream.isatty()
        self._last_draw = 0.0

    def __call__(self, fraction: float, message: str) -> None:
        if not self._enabled:
            return
        now = time.monotonic()
        if fraction < 1.0 and now - self._last_draw < 0.1:
            return
        self._last_draw = now
        filled = int(round(fraction * self._width))
        bar = "#" * filled + "." * (self._width - filled)
        self._stream.write(f"\r[{bar}] {fraction:4.0%}  {message[:60]:<60}")
        if fraction >= 1.0:
            self._stream.write("\n")
        self._stream.flush()
