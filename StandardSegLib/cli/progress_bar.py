"""A dependency-free terminal progress bar implementing ``StandardSegLib.progress.ProgressCallback``."""

from __future__ import annotations

import sys
import time
from typing import Optional, TextIO


class TerminalProgress:
    """Draws ``[#####.....]  42%  message`` on stderr; on a non-terminal, prints a line per 10 % step."""

    def __init__(self, stream: Optional[TextIO] = None, width: int = 30) -> None:
        # Resolve stderr at construction, not import, so redirected/captured stderr is honoured.
        self._stream = stream if stream is not None else sys.stderr
        self._width = width
        self._interactive = self._stream.isatty()
        self._last_decile = -1
        self._last_draw = 0.0

    def __call__(self, fraction: float, message: str) -> None:
        if self._interactive:
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
            return
        decile = int(fraction * 10)
        if decile != self._last_decile:
            self._last_decile = decile
            self._stream.write(f"  {fraction:4.0%}  {message}\n")
            self._stream.flush()
