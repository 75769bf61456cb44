"""How the panel reports errors and progress to the reader.

An error caused by the input (``StandardSegError``: a missing tag, an unknown operator, a failed gate) is
shown as one readable line, never as a traceback; anything else is a bug and is shown with its details, as
``slicer.util.tryWithErrorDisplay`` does. Long work shows a modal progress dialog fed by the library's
``progress(fraction, message)`` callbacks; Cancel stops the work at its next progress report.

``slicer`` and ``qt`` are imported inside the functions, so this file imports without the Slicer application.
"""

from __future__ import annotations

import contextlib
import logging


class Cancelled(Exception):
    """The reader pressed Cancel in a progress dialog (raised from the progress callback)."""


def _tr(text: str) -> str:
    from slicer.i18n import tr

    return tr(text)


@contextlib.contextmanager
def report_errors(failure: str):
    """Run the block; show what went wrong under the heading ``failure`` and carry on (bugs propagate)."""
    import slicer

    from StandardSegLib.errors import StandardSegError

    try:
        yield
    except Cancelled:
        logging.info(f"StandardSeg: cancelled: {failure}")
    except StandardSegError as error:
        if slicer.app.testingEnabled():
            raise
        slicer.util.errorDisplay(f"{failure}\n\n{error}", windowTitle=_tr("StandardSeg"))
    except Exception:
        with slicer.util.tryWithErrorDisplay(failure):
            raise


@contextlib.contextmanager
def progress_dialog(title: str):
    """A modal progress dialog; yields the ``progress(fraction, message)`` callback that feeds it."""
    import qt
    import slicer

    dialog = slicer.util.createProgressDialog(windowTitle=_tr("StandardSeg"), labelText=title, maximum=100, value=0,
                                              windowModality=qt.Qt.WindowModal)

    def progress(fraction: float, message: str) -> None:
        dialog.value = int(round(100 * min(max(float(fraction), 0.0), 1.0)))
        dialog.labelText = f"{title}\n{message}"
        slicer.app.processEvents()
        if dialog.wasCanceled:
            raise Cancelled(title)

    slicer.app.processEvents()
    try:
        with slicer.util.WaitCursor():
            yield progress
    finally:
        dialog.close()


@contextlib.contextmanager
def long_task(title: str, failure: str):
    """Long work (load, check, segment, export): a progress dialog, and errors reported as ``report_errors``."""
    with report_errors(failure), progress_dialog(title) as progress:
        yield progress
