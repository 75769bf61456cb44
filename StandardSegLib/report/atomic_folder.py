"""Write a folder atomically: filled under a hidden staging name beside the target, then renamed into place.

Guarantees (issue 11, section 5):

- A reader never sees half a folder: ``rename(2)`` of the finished staging folder is atomic on POSIX within a
  file system.
- Two writers into the same new target never both succeed: ``rename(2)`` of a directory onto an existing
  non-empty directory fails (EEXIST/ENOTEMPTY), and a bundle is never empty, so the check for an existing
  target and the final rename are one atomic step; the loser gets ``InputError`` and its staging folder is
  removed. (rename would replace an *empty* directory: one that exists just before the rename is refused, and
  no writer ever makes an empty target, so two writers cannot both land.) On Windows ``os.rename`` never
  replaces. Only ``overwrite`` moves an existing folder aside (kept as ``<name>.previous-<timestamp>``).
- An error, Ctrl-C, SIGTERM or SIGHUP removes the staging folder (SIGTERM/SIGHUP raise ``Terminated`` while
  a staging folder exists, in the main thread). Staging folders are named
  ``.<name>.partial-<host>-<pid>-<random>``; one left by a process that was killed outright (SIGKILL, power
  loss) is found by ``sweep_stale_partials`` because no process of that pid exists on this host (folders of
  other hosts sharing the file system are never touched; POSIX only: on Windows nothing is swept).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import os
import re
import shutil
import signal
import socket
import tempfile
import threading
from pathlib import Path
from typing import Callable, Iterator, Mapping, Optional

from StandardSegLib.errors import InputError, Terminated

#: This machine in staging folder names (letters, digits and "_"): only its own dead runs are swept.
HOST = re.sub(r"[^A-Za-z0-9]", "_", socket.gethostname()) or "host"
#: ``.<name>.partial-<host>-<pid>-<random>``: host and pid say whose it is.
_PARTIAL_NAME = re.compile(r"^\..+\.partial-(?P<host>\w+)-(?P<pid>\d+)-[^-]+$")
#: Signals that end a run politely (a scheduler's time limit, a closed terminal): clean up, then exit.
_TERMINATING = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))
#: rename(2) errors meaning "the target is already there".
_TARGET_EXISTS = (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR)


def write_atomically(target: Path, fill: Callable[[Path], None], *, overwrite: bool = False) -> Optional[Path]:
    """Run ``fill(staging)`` on a new staging folder beside ``target``, then rename it to ``target``.

    Returns where an existing ``target`` was kept (``overwrite``), else None. Raises ``InputError`` when
    ``target`` exists (or appears while filling) and not ``overwrite``. On any error or interrupt the staging
    folder is removed and an existing ``target`` is left as it was (see the module docstring).
    """
    target = Path(target)
    if target.exists() and not overwrite:
        raise _exists(target)
    if not target.parent.is_dir():
        raise InputError(f"{target}: expected an existing parent folder, found none at {target.parent}")
    staging = Path(tempfile.mkdtemp(prefix=partial_prefix(target.name, os.getpid()), dir=target.parent))
    previous = None
    try:
        with _terminating_signals_raise():
            fill(staging)
            staging.chmod(0o755)  # mkdtemp makes it private; a report is meant to be shared
            if overwrite and target.exists():
                previous = _free_name(target.with_name(f"{target.name}.previous-{dt.datetime.now():%Y%m%d-%H%M%S}"))
                os.rename(target, previous)
            _rename_no_replace(staging, target, previous)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return previous


def write_text_files(target: Path, files: Mapping[str, str], *, overwrite: bool = False) -> Optional[Path]:
    """A folder of text files (name -> UTF-8 content) written atomically, after sweeping stale staging folders
    beside it; returns where a replaced folder was kept (see ``write_atomically``)."""
    def fill(staging: Path) -> None:
        for name, text in files.items():
            (staging / name).write_text(text, encoding="utf-8")

    sweep_stale_partials(Path(target).parent)
    return write_atomically(Path(target), fill, overwrite=overwrite)


def partial_prefix(name: str, pid: int) -> str:
    """The start of the staging folder name for bundle ``name`` written by process ``pid`` on this host."""
    return f".{name}.partial-{HOST}-{pid}-"


def sweep_stale_partials(parent: Path) -> tuple[Path, ...]:
    """Remove the staging folders in ``parent`` whose writing process no longer exists; returns them.

    A staging folder of a live process (this one included), of another host, or whose name carries no pid
    is never touched. POSIX only (``os.kill(pid, 0)`` probes without signalling; on Windows it terminates).
    """
    if os.name != "posix" or not Path(parent).is_dir():
        return ()
    swept = []
    for entry in Path(parent).iterdir():
        match = _PARTIAL_NAME.match(entry.name)
        if (match and match["host"] == HOST and entry.is_dir() and not entry.is_symlink()
                and not _process_exists(int(match["pid"]))):
            shutil.rmtree(entry, ignore_errors=True)
            swept.append(entry)
    return tuple(sorted(swept))


def _rename_no_replace(staging: Path, target: Path, previous: Optional[Path]) -> None:
    """``os.rename(staging, target)`` that fails rather than replace anything already at ``target``."""
    try:
        if target.exists():  # rename(2) would silently replace an empty folder
            raise FileExistsError(errno.EEXIST, "exists", str(target))
        os.rename(staging, target)
    except OSError as error:
        if error.errno not in _TARGET_EXISTS:
            raise
        if previous is not None:
            raise InputError(f"{target} was written by another run while this one was writing; the bundle it "
                             f"replaced is kept at {previous}") from None
        raise _exists(target) from None


def _exists(target: Path) -> InputError:
    return InputError(f"{target} already exists: pass --overwrite to replace it (the old bundle is kept as "
                      f"{target.name}.previous-<timestamp>), or choose another folder")


@contextlib.contextmanager
def _terminating_signals_raise() -> Iterator[None]:
    """While the block runs, SIGTERM/SIGHUP raise ``Terminated`` (so the caller's clean-up runs); a second
    signal during the clean-up is ignored. Python only lets the main thread set handlers: elsewhere the
    signals keep their handlers (a worker thread's staging folder is left to ``sweep_stale_partials``)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum: int, _frame: object) -> None:
        for number in _TERMINATING:
            signal.signal(number, signal.SIG_IGN)
        raise Terminated(signal.Signals(signum).name, 128 + signum)

    saved = {number: signal.signal(number, terminate) for number in _TERMINATING}
    try:
        yield
    finally:
        for number, handler in saved.items():
            signal.signal(number, handler)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def _free_name(path: Path) -> Path:
    candidate, number = path, 1
    while candidate.exists():
        number += 1
        candidate = path.with_name(f"{path.name}-{number}")
    return candidate
