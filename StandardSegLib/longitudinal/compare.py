"""compare.json: the longitudinal comparison document, validated against Resources/Schemas/compare.schema.json.

The protocol judging comparability is the baseline's (from the protocol library, checked against the hash
the report recorded) unless one is given explicitly.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Optional

from StandardSegLib.errors import InputError, StandardSegError
from StandardSegLib.jsonable import to_jsonable
from StandardSegLib.longitudinal.changes import lesion_changes, patient_changes
from StandardSegLib.longitudinal.comparability import check_comparability
from StandardSegLib.longitudinal.pairing import DEFAULT_TOLERANCE_MM, pair_lesions
from StandardSegLib.longitudinal.percist import percist_category
from StandardSegLib.longitudinal.recist import recist_category
from StandardSegLib.report.report_json import software_versions
from StandardSegLib.schema_check import first_schema_problem

if TYPE_CHECKING:
    from StandardSegLib.longitudinal.timepoint import Timepoint
    from StandardSegLib.protocols import Protocol, ProtocolLibrary

SCHEMA_ID = "standardseg.compare/1"
SCHEMA_FILE = "compare.schema.json"


class CompareSchemaError(StandardSegError):
    """A compare document does not match compare.schema.json (a bug: nothing is written)."""


def compare_timepoints(baseline: Timepoint, followup: Timepoint, protocol: Protocol,
                       tolerance_mm: float = DEFAULT_TOLERANCE_MM) -> dict[str, Any]:
    """The comparison document of ``followup`` against ``baseline``."""
    if tolerance_mm <= 0:
        raise InputError(f"--tolerance: expected a distance above 0 mm, found {tolerance_mm:g}")
    comparability = check_comparability(baseline.report, followup.report, protocol)
    pairing = pair_lesions(baseline.lesions, followup.lesions, tolerance_mm)
    failed = [*(f"baseline '{name}'" for name in baseline.failed_lesions),
              *(f"follow-up '{name}'" for name in followup.failed_lesions)]
    if comparability.blocked:
        blocked = "; ".join(item.message for item in comparability.differences if item.blocking)
        recist = percist = _not_assessable(f"blocking difference ({blocked})")
    elif failed:
        recist = percist = _not_assessable(f"lesion(s) failed in the report: {', '.join(failed)}")
    else:
        modalities = (baseline.report["image"].get("modality") or "?", followup.report["image"].get("modality") or "?")
        recist = recist_category(modalities, baseline.lesions, followup.lesions, pairing)
        percist = percist_category(baseline.report, followup.report, pairing)
    document = {
        "schema": SCHEMA_ID,
        "created_at": dt.datetime.now().astimezone().isoformat(),
        "protocol": {"id": protocol.id, "version": protocol.version, "sha256": protocol.content_sha256},
        "timepoints": {"baseline": _timepoint(baseline), "followup": _timepoint(followup)},
        "comparability": comparability.to_dict(),
        "pairing": pairing.to_dict(),
        "lesions": [{**pair.to_dict(), "changes": lesion_changes(pair)} for pair in pairing.pairs],
        "patient": patient_changes(baseline.lesions, followup.lesions, pairing),
        "recist": recist,
        "percist": percist,
        "software": software_versions(),
    }
    document = to_jsonable(document)
    validate_compare(document)
    return document


def validate_compare(document: Any) -> None:
    problem = first_schema_problem(document, SCHEMA_FILE)
    if problem:
        raise CompareSchemaError(f"compare.json {problem} (schema {SCHEMA_ID})")


def protocol_for(baseline: Timepoint, library: ProtocolLibrary, protocol_id: Optional[str] = None) -> Protocol:
    """The given protocol, else the baseline report's; refuse one whose content changed since the report."""
    recorded = baseline.report["protocol"]
    protocol = library.get(protocol_id or recorded["id"])
    if protocol_id is None and protocol.content_sha256 != recorded["sha256"]:
        raise InputError(f"protocol '{recorded['id']}': the library's copy (version {protocol.version}) differs "
                         f"from the one the baseline report used (version {recorded['version']}, sha256 "
                         f"{recorded['sha256'][:12]}); pass --protocol to choose one")
    return protocol


def _timepoint(timepoint: Timepoint) -> dict[str, Any]:
    image = timepoint.report["image"]
    return {"source": timepoint.label, "report_sha256": timepoint.report_sha256,
            "protocol": dict(timepoint.report["protocol"]), "modality": image.get("modality"),
            "series_datetime": image.get("series_datetime"), "lesions": [lesion.name for lesion in timepoint.lesions],
            "failures": list(timepoint.failed_lesions)}


def _not_assessable(reason: str) -> dict[str, Any]:
    return {"category": f"not assessable: {reason}", "assessable": False, "reason": reason}
