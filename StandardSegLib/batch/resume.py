"""Is a finished case bundle still the answer to its job? (What makes ``standardseg batch`` idempotent.)

A bundle is written atomically (``report.bundle.write_atomically``), so a folder ``DIR/cases/<id>`` with
``report.json`` and ``session.json`` is a finished case. Its ``session.json`` pins what it was computed from:
the job (image, ROIs, lesions, methods, parameters), the protocol's content hash, the software version and the
SHA-256 of every input file read. The case is skipped only when all of them still hold; otherwise the reason
is returned and the case runs again (the old bundle is kept as ``<id>.previous-<timestamp>``).

Inputs are compared by content, never by path: a de-identified bundle (``batch --deidentify``) records no
paths at all (``REMOVED/<hash>``), and a moved but unchanged input does not make a result stale. Both sides are
put in that path-free form (``session.deidentified_session``): the recorded session with the hashes it
recorded, the job with the hashes of the files a run would read now (``session.current_inputs``, headers only).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Optional

from StandardSegLib import __version__
from StandardSegLib.errors import StandardSegError
from StandardSegLib.report.bundle import REPORT_JSON
from StandardSegLib.session import (SESSION_JSON, Session, current_inputs, deidentified_session,
                                    pinned_protocol)

if TYPE_CHECKING:
    from StandardSegLib.batch.manifest import BatchCase

#: Keys a run adds to a job besides its inputs; they say when and with what it ran, not what was asked.
_RECORDED_KEYS = ("created_at", "software")


def stale_reason(case: "BatchCase", bundle: Path) -> Optional[str]:
    """None when ``bundle`` is a finished result of ``case``'s job as it stands; else why it is not."""
    if not (bundle / REPORT_JSON).is_file() or not (bundle / SESSION_JSON).is_file():
        return f"{bundle.name} is not a finished bundle (no {REPORT_JSON} or {SESSION_JSON})"
    try:
        recorded = Session.from_file(bundle / SESSION_JSON)
    except StandardSegError as error:
        return f"its {SESSION_JSON} is unreadable ({error})"
    if recorded.deidentify != case.session.deidentify:
        return f"de-identification changed ({recorded.deidentify} -> {case.session.deidentify})"
    version = recorded.software.get("standardseg")
    if version != __version__:
        return f"software version changed ({version} -> {__version__})"
    protocol = pinned_protocol(case.session)
    if recorded.protocol_sha256 != protocol.content_sha256:
        return (f"protocol {protocol.id} changed (sha256 {str(recorded.protocol_sha256)[:12]}... -> "
                f"{protocol.content_sha256[:12]}...)")
    try:
        current = dataclasses.replace(case.session, inputs=current_inputs(case.session))
    except (StandardSegError, OSError) as error:
        return f"its inputs cannot be read now ({str(error).splitlines()[0]})"
    then = _job(recorded.to_dict() if recorded.deidentify else deidentified_session(recorded))
    now = _job(deidentified_session(current))
    changed = _changed_inputs(then.pop("inputs", {}), now.pop("inputs", {}))
    if changed:
        return changed
    if then != now:
        return "the job changed (image, ROIs, lesions, methods or parameters)"
    return None


def _job(document: dict[str, Any]) -> dict[str, Any]:
    """A path-free session document without what a run records about itself; the protocol by id only (its
    content is compared by hash)."""
    for key in _RECORDED_KEYS:
        document.pop(key, None)
    document["protocol"] = {"id": document["protocol"]["id"]}
    return document


def _changed_inputs(then: Mapping[str, str], now: Mapping[str, str]) -> Optional[str]:
    """Why the recorded input contents differ from the current ones (counts only: no path, which may identify
    the patient), or None when they are the same files by SHA-256."""
    recorded, current = set(then.values()), set(now.values())
    if recorded == current and len(then) == len(now):
        return None
    return (f"the input files changed ({len(current - recorded)} of {len(now)} new or modified, "
            f"{len(recorded - current)} of {len(then)} recorded no longer read)")
