"""Progress reporting shared by every front end.

Long-running library functions take an optional ``progress`` callback ``(fraction, message)`` with
``fraction`` in [0, 1]. The CLI draws a bar on the terminal; the Slicer widget drives a progress dialog;
tests and batch runs pass nothing.
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator, Optional, TypeVar

ProgressCallback = Callable[[float, str], None]
T = TypeVar("T")


def report(progress: Optional[ProgressCallback], fraction: float, message: str) -> None:
    """Call ``progress`` if one was given (keeps call sites free of ``if progress`` noise)."""
    if progress is not None:
        progress(min(max(fraction, 0.0), 1.0), message)


def track(items: Iterable[T], total: int, message: str, progress: Optional[ProgressCallback]) -> Iterator[T]:
    """Yield ``items`` unchanged, reporting the fraction done after each one."""
    for index, item in enumerate(items, start=1):
        yield item
        report(progress, index / max(total, 1), message)


def progress_part(progress: Optional[ProgressCallback], start: float, end: float) -> Optional[ProgressCallback]:
    """A callback for one stage of a longer task: its [0, 1] maps onto [start, end] of ``progress``."""
    if progress is None:
        return None
    return lambda fraction, message: progress(start + (end - start) * fraction, message)
