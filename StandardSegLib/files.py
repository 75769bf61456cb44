"""File primitives every layer uses: the SHA-256 of a file's content and the atomic write of one file.

They sit at the bottom of the library (standard library only), so segmentation, normalisation, batch and
report code can all use them without importing each other.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Callable


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of the file's bytes (read in 1 MiB blocks, so large volumes are never held in memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def atomic_write(target: Path, suffix: str, write: Callable[[Path], None]) -> None:
    """``write(temporary)`` into a temporary file beside ``target``, then rename it into place, so a reader
    never sees half a file (``os.replace`` is atomic within one file system)."""
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        write(temporary)
        os.replace(temporary, target)
    finally:
        if temporary.exists():
            temporary.unlink()
