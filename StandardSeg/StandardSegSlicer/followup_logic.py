"""The panel's "Follow-up and reader agreement" section without Qt (issue 15: "the Slicer panel offers what fits
a reader's workflow"): the longitudinal check of the session's exported bundle against a baseline bundle, and
the agreement of readers' segmentations (segmentation nodes of the scene, or mask files).

The science is the library's, called exactly as ``cli/compare_cmd.py`` (``load_timepoint``, ``protocol_for``,
``compare_timepoints``, ``write_compare_bundle``) and ``cli/agreement_cmd.py`` (``parse_mask_spec``,
``agreement_study``, ``write_agreement_bundle``) call it; this module gathers the inputs and turns the
documents into the lines and rows the panel shows.
"""

from __future__ import annotations

import datetime
import pathlib
from typing import Any, Mapping, Optional, Sequence

from StandardSegSlicer.session_logic import isFolderChosen, newTimestampedFolder


# --- longitudinal check -------------------------------------------------------------------------------------


def sessionBundle(session: Any) -> pathlib.Path:
    """The report bundle the session exported in step 7 (the follow-up of the comparison)."""
    from StandardSegLib.errors import InputError

    if session is None or session.bundle is None:
        raise InputError("follow-up: export this session's report (step 7) first, or choose a follow-up bundle")
    return pathlib.Path(session.bundle.path)


def compareBundles(baseline: Any, followup: Any, outputFolder: Any, tolerance: Optional[float] = None,
                   now: Optional[datetime.datetime] = None) -> tuple[dict[str, Any], pathlib.Path]:
    """``standardseg compare BASELINE FOLLOWUP``: the comparison document and the compare bundle written into
    a new ``compare-*`` folder of ``outputFolder``. The baseline report's protocol gives the must-match keys."""
    from StandardSegLib.errors import InputError
    from StandardSegLib.longitudinal import compare_timepoints, load_timepoint, write_compare_bundle
    from StandardSegLib.longitudinal.compare import protocol_for
    from StandardSegLib.longitudinal.pairing import DEFAULT_TOLERANCE_MM
    from StandardSegLib.protocols import load_library

    if not isFolderChosen(baseline):
        raise InputError("follow-up: choose the baseline bundle (folder, report.json or session.json)")
    first, second = load_timepoint(baseline), load_timepoint(followup)
    protocol = protocol_for(first, load_library())
    document = compare_timepoints(first, second, protocol, DEFAULT_TOLERANCE_MM if tolerance is None else tolerance)
    target, _previous = write_compare_bundle(document, newTimestampedFolder(outputFolder, "compare", now))
    return document, target


def comparisonLines(document: Mapping[str, Any]) -> list[str]:
    """Comparable or not (blocked when a blocking key differs), each difference and unchecked key, the
    categories: what ``standardseg compare`` prints."""
    comparability = document["comparability"]
    lines = [f"Comparability: {comparability['verdict']}" + (" (blocked)" if comparability["blocked"] else "")]
    lines.extend(f"  {item}" for item in (*comparability["differences"], *comparability["unchecked"]))
    lines.append(f"RECIST 1.1: {document['recist']['category']}")
    lines.append(f"PERCIST 1.0: {document['percist']['category']}")
    return lines


def lesionChangeRows(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per paired lesion and measure: baseline and follow-up names, the two values and the change."""
    rows = []
    for lesion in document["lesions"]:
        for measure, values in lesion["changes"].items():
            rows.append({"baseline lesion": lesion["baseline"], "follow-up lesion": lesion["followup"],
                         "measure": measure, "baseline": values.get("baseline"), "follow-up": values.get("followup"),
                         "change": values.get("change"), "change %": values.get("change_percent")})
    return rows


# --- reader agreement ---------------------------------------------------------------------------------------


def segmentMaskFiles(segmentationNodes: Sequence[Any], referenceVolume: Any,
                     workFolder: Any) -> tuple[list[list[str]], list[str]]:
    """Each segmentation node is one reader; its k-th segment is lesion k. The segments are written as masks on
    ``referenceVolume``'s grid (``workFolder/<reader>/<k>.nrrd``); returns ``paths[lesion][reader]`` and the
    reader names (the node names)."""
    import SimpleITK as sitk

    from StandardSegLib.errors import InputError
    from StandardSegLib.mrml.segments import mask_from_segment, segment_ids

    nodes = [node for node in segmentationNodes if node is not None]
    if len(nodes) < 2:
        raise InputError("agreement: select at least two readers' segmentations")
    if referenceVolume is None:
        raise InputError("agreement: select the volume the segmentations were drawn on")
    ids = [segment_ids(node) for node in nodes]
    counts = {len(reader) for reader in ids}
    if len(counts) != 1 or 0 in counts:
        raise InputError("agreement: every reader's segmentation must hold the same number (at least one) of "
                         "segments, lesion by lesion in the same order; found " + ", ".join(
                             f"{node.GetName()}: {len(reader)}" for node, reader in zip(nodes, ids)))
    lesions: list[list[str]] = [[] for _ in ids[0]]
    for number, (node, readerIds) in enumerate(zip(nodes, ids), start=1):
        folder = pathlib.Path(workFolder) / f"reader-{number}"
        folder.mkdir(parents=True, exist_ok=True)
        for lesion, segmentId in enumerate(readerIds):
            path = folder / f"lesion-{lesion + 1}.nrrd"
            sitk.WriteImage(mask_from_segment(node, segmentId, referenceVolume), str(path), True)
            lesions[lesion].append(str(path))
    return lesions, [node.GetName() for node in nodes]


def readerAgreement(lesionMasks: Sequence[Sequence[str]], readers: Sequence[str], outputFolder: Any,
                    now: Optional[datetime.datetime] = None) -> tuple[dict[str, Any], pathlib.Path]:
    """``standardseg agreement``: ``lesionMasks[k][r]`` is reader r's mask of lesion k (a file, RS.dcm:ROI or
    BUNDLE:SEGMENT); the agreement document and its bundle in a new ``agreement-*`` folder of ``outputFolder``."""
    from StandardSegLib.agreement import agreement_study, parse_mask_spec, write_agreement_bundle

    lesions = [[parse_mask_spec(str(text)) for text in masks] for masks in lesionMasks]
    document = agreement_study(lesions, list(readers))
    target, _previous = write_agreement_bundle(document, newTimestampedFolder(outputFolder, "agreement", now))
    return document, target


def agreementRows(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per reader: mean Dice, HD95 and mean surface distance against the consensus (or reference)."""
    return [{"reader": row["reader"], "against": row["against"], "mean Dice": row["mean_dice"],
             "HD95 (mm)": row["mean_hd95_mm"], "MSD (mm)": row["mean_surface_distance_mm"]}
            for row in document["summary"]]


def volumeIccText(document: Mapping[str, Any]) -> str:
    """The volume ICC(2,1) and ICC(3,1), or the library's note when they cannot be computed."""
    parts = []
    for key, label in (("icc_2_1", "ICC(2,1)"), ("icc_3_1", "ICC(3,1)")):
        icc = document["volumes"][key]
        parts.append(f"volume {label}: " + (f"{icc['value']:.3f}" if icc["value"] is not None else icc["note"]))
    return "; ".join(parts)
