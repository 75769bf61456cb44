"""Is a finished case bundle still the answer to its job? (What makes ``standardseg batch`` idempotent.)

A bundle is written atomically (``report.bundle.write_atomically``), so a folder ``DIR/cases/<id>`` with
``report.json`` and ``session.json`` is a finished case. Its ``session.json`` pins what it was computed from:
the job (image, ROIs, lesions, methods, parameters), the protocol's content hash, the software version and the
SHA-256 of every input file read. The case is skipped only when all of them still hold; otherwise the reason
is returned and the case runs again (the old bundle is kept as ``<id>.previous-<timestamp>``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from StandardSegLib import __version__
from StandardSegLib.errors import StandardSegError
from StandardSegLib.report.bundle import REPORT_JSON
from StandardSegLib.session import SESSION_JSON, Session, pinned_protocol

if TYPE_CHECKING:
    from StandardSegLib.batch.manifest import BatchCase

#: Keys a run adds to a job; they say what was computed from, not what was asked.
_RECORDED_KEYS = ("inputs", "created_at", "software")


def stale_reason(case: "BatchCase", bundle: Path) -> Optional[str]:
    """None when ``bundle`` is a finished result of ``case``'s job as it stands; else why it is not."""
    if not (bundle / REPORT_JSON).is_file() or not (bundle / SESSION_JSON).is_file():
        return f"{bundle.name} is not a finished bundle (no {REPORT_JSON} or {SESSION_JSON})"
    try:
        recorded = Session.from_file(bundle / SESSION_JSON)
    except StandardSegError as error:
        return f"its {SESSION_JSON} is unreadable ({error})"
    if _job(case.session, recorded.deidentify) != _job(recorded, recorded.deidentify):
        return "the job changed (image, ROIs, lesions, methods or parameters)"
    version = recorded.software.get("standardseg")
    if version != __version__:
        return f"software version changed ({version} -> {__version__})"
    protocol = pinned_protocol(case.session)
    if recorded.protocol_sha256 != protocol.content_sha256:
        return (f"protocol {protocol.id} changed (sha256 {str(recorded.protocol_sha256)[:12]}... -> "
                f"{protocol.content_sha256[:12]}...)")
    try:
        recorded.check_inputs()
    except StandardSegError as error:
        return str(error)
    return None


def _job(session: Session, deidentified: bool) -> dict[str, Any]:
    """The job part of a session document, paths absolute (a bundle stores them relative to itself).

    A de-identified bundle does not store the series UID, so it is not compared then.
    """
    document = session.to_dict(paths=lambda text: str(session.resolve(text)))
    for key in _RECORDED_KEYS:
        document.pop(key, None)
    document["protocol"] = {"id": document["protocol"]["id"]}
    if deidentified:
        document["image"].pop("series_uid", None)
    return document
