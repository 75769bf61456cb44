"""Run ``standardseg serve`` as a child process and stop it: what a site's per-reader launcher does, and what the
tests and the benchmark use.

The child prints its URL (with the token) on stdout once it listens; its stderr (VTK's messages) goes to a log
file. Stopping is SIGTERM, then SIGKILL after ``stop_timeout_s``: a server never outlives its caller.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterator, Sequence

from StandardSegLib.errors import InputError

URL_PATTERN = re.compile(r"http://[^\s/]+:(\d+)/index\.html\?token=(\S+)")


@dataclass(frozen=True)
class ServedPanel:
    """A running server: its URL (token included), port and process."""

    url: str
    port: int
    process: subprocess.Popen

    @property
    def base(self) -> str:
        return self.url.split("/index.html", 1)[0]


@contextmanager
def served(arguments: Sequence[str], log_path: Path, start_timeout_s: float = 180.0,
           stop_timeout_s: float = 10.0) -> Iterator[ServedPanel]:
    """``standardseg serve ARGUMENTS`` until the block ends."""
    command = [sys.executable, "-c", "import sys; from StandardSegLib.cli import main; sys.exit(main())", "serve",
               *arguments]
    environment = {**os.environ, "VTK_DEFAULT_OPENGL_WINDOW": os.environ.get("VTK_DEFAULT_OPENGL_WINDOW",
                                                                             "vtkEGLRenderWindow")}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, env=environment)
        try:
            found: list[str] = []
            reader = threading.Thread(target=_read_url, args=(process.stdout, found), daemon=True)
            reader.start()
            reader.join(start_timeout_s)
            if not found:
                raise InputError(f"standardseg serve printed no URL within {start_timeout_s:g} s "
                                 f"(exit status {process.poll()}); see {log_path}")
            match = URL_PATTERN.search(found[0])
            yield ServedPanel(url=match.group(0), port=int(match.group(1)), process=process)
        finally:
            process.terminate()
            try:
                process.wait(stop_timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(stop_timeout_s)


def _read_url(stream: IO[bytes], found: list[str]) -> None:
    for line in stream:
        text = line.decode(errors="replace")
        if URL_PATTERN.search(text):
            found.append(text)
            return
