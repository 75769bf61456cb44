"""agreement.json: N readers' segmentations of the same lesions, validated against
Resources/Schemas/agreement.schema.json.

Per lesion: the SHA-256 of every mask file read, STAPLE consensus and every reader against it, all reader
pairs, and each reader against a reference when one is given (``overlap``). Across lesions: volume ICCs and Bland-Altman (``volumes``).
Per reader: the mean Dice against the reference (if given) or the consensus, the number a protocol's
``operator_training.min_agreement_dice`` is checked against.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Optional, Sequence

import numpy as np

from StandardSegLib.agreement.inputs import MaskSpec, read_lesion_masks
from StandardSegLib.agreement.overlap import lesion_agreement
from StandardSegLib.agreement.volumes import volume_agreement
from StandardSegLib.errors import InputError, StandardSegError
from StandardSegLib.jsonable import to_jsonable
from StandardSegLib.report.report_json import software_versions
from StandardSegLib.schema_check import first_schema_problem

if TYPE_CHECKING:
    from StandardSegLib.imaging.loaded import LoadedImage

SCHEMA_ID = "standardseg.agreement/1"
SCHEMA_FILE = "agreement.schema.json"
#: summary field -> per-lesion field averaged over the lesions
_SUMMARY = {"mean_dice": "dice", "mean_jaccard": "jaccard", "mean_hd95_mm": "hd95_mm",
            "mean_surface_distance_mm": "mean_surface_distance_mm"}


class AgreementSchemaError(StandardSegError):
    """An agreement document does not match agreement.schema.json (a bug: nothing is written)."""


def agreement_study(lesions: Sequence[Sequence[MaskSpec]], readers: Sequence[str],
                    references: Sequence[MaskSpec] = (), grids: Sequence[Optional[LoadedImage]] = ()) -> dict[str, Any]:
    """``lesions[k][r]`` is reader r's mask of lesion k; ``references[k]`` (optional) the reference of lesion
    k; ``grids[k]`` (optional) the image whose grid lesion k is compared on."""
    if len(readers) < 2:
        raise InputError(f"agreement: expected at least 2 readers, found {len(readers)}")
    if len(set(readers)) != len(readers):
        raise InputError(f"--names: expected distinct reader names, found {', '.join(readers)}")
    if references and len(references) != len(lesions):
        raise InputError(f"--reference: expected one per lesion ({len(lesions)}), found {len(references)}")
    if grids and len(grids) not in (1, len(lesions)):
        raise InputError(f"--grid: expected one, or one per lesion ({len(lesions)}), found {len(grids)}")
    results, volumes = [], []
    for number, specs in enumerate(lesions):
        grid = grids[0] if len(grids) == 1 else grids[number] if grids else None
        reference_spec = references[number] if references else None
        masks, hashes, notes = read_lesion_masks([*specs, *([reference_spec] if reference_spec else [])], grid)
        reference = masks.pop() if reference_spec else None
        reference_hash = hashes.pop() if reference_spec else None
        measured = lesion_agreement(masks, readers, reference)
        results.append({"lesion": number + 1, "masks": [spec.label for spec in specs], "masks_sha256": hashes,
                        "reference_mask": reference_spec.label if reference_spec else None,
                        "reference_sha256": reference_hash,
                        "spacing_mm": list(masks[0].GetSpacing()), "notes": notes, **measured})
        volumes.append([reader["volume_ml"] for reader in measured["readers"]])
    document = {"schema": SCHEMA_ID, "created_at": dt.datetime.now().astimezone().isoformat(),
                "readers": list(readers), "lesions": results, "volumes": volume_agreement(volumes, readers),
                "summary": _summary(results, readers, bool(references)), "training_check": None,
                "software": software_versions()}
    return checked(document)


def checked(document: dict[str, Any]) -> dict[str, Any]:
    """The document as plain JSON values, validated against the schema."""
    document = to_jsonable(document)
    problem = first_schema_problem(document, SCHEMA_FILE)
    if problem:
        raise AgreementSchemaError(f"agreement.json {problem} (schema {SCHEMA_ID})")
    return document


def _summary(results: Sequence[dict[str, Any]], readers: Sequence[str], referenced: bool) -> list[dict[str, Any]]:
    """Each reader's mean Dice, HD95 and mean surface distance over the lesions, against the reference when
    given, else against the consensus."""
    against = "reference" if referenced else "consensus"
    summary = []
    for number, reader in enumerate(readers):
        rows = [(lesion["reference"]["readers"] if referenced else lesion["readers"])[number] for lesion in results]
        summary.append({"reader": reader, "against": against,
                        **{name: float(np.mean([row[key] for row in rows])) for name, key in _SUMMARY.items()}})
    return summary
