"""The one entry point every front end calls: ``segment(...)``.

Order of checks, so that nothing is computed that would have to be refused: the method must be one the
protocol allows (else the allowed list is named), the gate verdict must belong to this protocol and allow
segmentation (pass/warn, or a failure overridden with a written reason), the image must be in the units the
method needs (SUV for SUV-threshold methods), and the seeds must lie in the image (and in the lesion ROI).
The method then runs in a VOI (see :mod:`StandardSegLib.segmentation.voi` and ``method_run``), its raw mask
is post-processed, checked by the plausibility guards (``guards``; a flag the protocol makes blocking is a
refusal), pasted onto the image grid and returned with its provenance.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import numpy as np
import SimpleITK as sitk

from StandardSegLib.errors import InputError
from StandardSegLib.progress import ProgressCallback, report
from StandardSegLib.roi import BoxROI
from StandardSegLib.segmentation.guards import plausibility_flags
from StandardSegLib.segmentation.hot_region import background_level
from StandardSegLib.segmentation.method_run import run_method
from StandardSegLib.segmentation.method_types import Method, MethodOutput
from StandardSegLib.segmentation.parameters import CommonOptions, build_parameters, split_parameters
from StandardSegLib.segmentation.postprocess import voxel_count
from StandardSegLib.segmentation.provenance import (MANUAL, SEMIAUTOMATIC, ProcessingStep, Segment,
                                                    SegmentProvenance)
from StandardSegLib.segmentation.registry import MANUAL_METHOD, METHODS
from StandardSegLib.segmentation.voi import (VOI, LesionBound, LesionROI, cap_voi, lesion_bound, seed_index,
                                             voi_around, voi_around_hot_region)

Point = tuple[float, float, float]
#: VOI growth rounds before the result is accepted as is (each round at least doubles the VOI).
MAX_VOI_ROUNDS = 8


def allowed_methods(protocol: Any) -> list[str]:
    return list(protocol.segmentation_methods)


def check_method_allowed(protocol: Any, method: str) -> None:
    """InputError naming the allowed methods when ``method`` is not one of the protocol's."""
    allowed = allowed_methods(protocol)
    if method not in allowed:
        raise InputError(f"method '{method}' is not allowed by protocol {protocol.id} v{protocol.version} "
                         f"(allowed: {', '.join(allowed)})")


def segment(image: sitk.Image, *, protocol: Any, verdict: Any, method: str, units: str,
            seeds_lps: Sequence[Point] = (), background_seeds_lps: Sequence[Point] = (),
            box: Optional[BoxROI] = None, parameters: Optional[Mapping[str, Any]] = None,
            background: Any = None, operator: Optional[str] = None, roi_modality: str = "unknown",
            alignment: Optional[Mapping[str, Any]] = None, seeds_mask: Optional[sitk.Image] = None,
            roi: Optional[LesionROI] = None, progress: Optional[ProgressCallback] = None) -> Segment:
    """Segment ``image`` (working units ``units``: HU, SUVbw...) with a protocol-allowed ``method``.

    ``verdict`` is the GateVerdict of this image under ``protocol``; ``parameters`` override the protocol's
    defaults (strings from the CLI are converted); ``background`` is the reference-tissue measurement
    (mean/sd in ``units``) for background-relative PET methods; ``roi_modality`` and ``alignment`` say which
    image defined the ROI and how it was brought onto the grid (multi-modality reference). ``seeds_mask``
    is a painted seed label image on ``image``'s grid (1 foreground, 2 background) for grow-from-seeds.
    ``roi`` (a sphere, box or mask on the grid; ``box`` is the same for a box) bounds the lesion: the method
    sees only its voxels. Without it the VOI adapts around the seeds up to the protocol's size cap.
    Every segment carries the plausibility flags of :mod:`~StandardSegLib.segmentation.guards`.
    """
    check_method_allowed(protocol, method)
    _check_verdict(protocol, verdict)
    seeds = tuple(tuple(float(v) for v in point) for point in seeds_lps)
    background_seeds = tuple(tuple(float(v) for v in point) for point in background_seeds_lps)
    context = dict(seeds_lps=seeds, background_seeds_lps=background_seeds, units=units, roi_modality=roi_modality,
                   alignment=dict(alignment) if alignment else None, gate=_gate_summary(verdict), operator=operator)
    if method == MANUAL_METHOD:
        empty = sitk.Image(image.GetSize(), sitk.sitkUInt8)
        empty.CopyInformation(image)
        provenance = SegmentProvenance(method=method, algorithm_name="manual (scripted edits)", algorithm_type=MANUAL,
                                       parameters={}, voi=None, thresholds={}, steps=(), voxel_count=0,
                                       volume_mm3=0.0, **context)
        return Segment(empty, provenance)

    chosen = METHODS[method]
    values = {**chosen.default_options, **protocol.segmentation_methods.get(method, {}), **(parameters or {})}
    method_values, common_values = split_parameters(method, chosen.parameters, values)
    method_parameters = build_parameters(chosen.parameters, method, method_values)
    options = build_parameters(CommonOptions, method, common_values)
    roi = roi if roi is not None else box
    _check_inputs(chosen, units, seeds, roi, seeds_mask)

    seed_indices = tuple(seed_index(image, point, "seed") for point in seeds)
    background_indices = tuple(seed_index(image, point, "background seed") for point in background_seeds)
    bound = lesion_bound(image, roi) if roi is not None else None
    if bound is not None:
        _check_seeds_in_bound(bound, seed_indices + background_indices, seeds + background_seeds)
    rules = protocol.document["segmentation"]
    max_volume = rules.get("max_lesion_volume_ml")
    max_voxels = (None if max_volume is None
                  else int(max_volume * 1000.0 / float(np.prod(image.GetSpacing()))))
    reach_mm = options.voi_margin_mm + max(options.margin_mm, 0.0) + 3.0 * options.smoothing_mm
    seed_image = None
    if chosen.seed_image is not None:  # the method's own seed labels and fixed extent (Slicer's rule)
        seed_image = chosen.seed_image(image, seed_indices, background_indices, seeds_mask,
                                       bound.voi if bound else None, method_parameters)
        voi = seed_image.voi
    else:
        voi = bound.voi if bound else voi_around(image, seed_indices + background_indices, reach_mm)
    fixed = bound is not None or seed_image is not None
    limit = None if fixed else cap_voi(image, seed_indices + background_indices, max_volume, reach_mm)
    if chosen.uptake and seed_indices and not fixed:
        voi = voi_around_hot_region(image, limit, seed_indices, reach_mm, background_level(background, units))
    capped = False
    for round_number in range(1, MAX_VOI_ROUNDS + 1):
        report(progress, round_number / (MAX_VOI_ROUNDS + 1), f"{method}: VOI {voi.size}")
        run = run_method(image, voi, chosen, method_parameters, options, units=units, seeds=seed_indices,
                         background_seeds=background_indices, background=background,
                         protocol_parameters=protocol.segmentation_methods,
                         seed_labels=seed_image.labels if seed_image else None, bound=bound,
                         max_voxels=max_voxels)
        if fixed:
            break
        if max_volume is not None and _volume_ml(run.mask) > max_volume:  # also a growth stopped at the cap
            capped = True  # a leak: growing the VOI further only feeds it
            break
        grown = voi.grown_to_fit(run.mask, reach_mm, image)
        if grown is None:
            break
        capped = grown.intersect(limit) == voi
        if capped:
            break
        voi = grown.intersect(limit)
    output, mask = run.output, run.mask
    if seeds and voxel_count(mask) == 0:
        raise InputError(_empty_message(method, image, seed_indices, output, units, voi))
    flags = plausibility_flags(image, voi, mask, values=voi.crop(image), units=units, thresholds=output.thresholds,
                               max_volume_ml=max_volume, capped=capped, hot=run.hot,
                               roi=voi.crop(bound.mask) if bound else None,
                               blocking=frozenset(rules.get("blocking_flags", ())))
    blocking = [flag for flag in flags if flag.blocking]
    if blocking:
        raise InputError(f"method {method}: refused by protocol {protocol.id}'s blocking flag(s): "
                         + "; ".join(f"{flag.code}: {flag.message}" for flag in blocking))

    full = voi.paste(mask, image)
    count = voxel_count(mask)
    first = ProcessingStep(method, SEMIAUTOMATIC, {**_public(method_parameters), **_public(options)},
                           voxel_count(output.mask))
    details = {"source": chosen.source, "voi_rounds": round_number, **(seed_image.details if seed_image else {}),
               **output.details}
    if bound is not None:
        details.update(lesion_roi=bound.description, warnings=list(bound.warnings))
    if run.hot is not None:
        details.update(hot_region_level=run.hot.level, hot_region_voxels=run.hot.voxel_count,
                       statistics_rounds=run.statistics_rounds, statistics_consistent=run.statistics_consistent)
    provenance = SegmentProvenance(
        method=method, algorithm_name=f"StandardSeg {chosen.title}", algorithm_type=SEMIAUTOMATIC,
        parameters={**_public(method_parameters), **_public(options)}, voi=voi.to_dict(image),
        thresholds={key: float(value) for key, value in output.thresholds.items()},
        steps=(first, *run.steps), voxel_count=count, volume_mm3=count * float(np.prod(image.GetSpacing())),
        details=details, flags=flags, **context)
    report(progress, 1.0, f"{method}: {count} voxels" + "".join(f"; flag {flag.code}" for flag in flags))
    return Segment(full, provenance)


def _check_verdict(protocol: Any, verdict: Any) -> None:
    if verdict is None:
        raise InputError("segmentation needs the image-check (gate) verdict of this image; evaluate the gate first")
    if verdict.protocol_id != protocol.id or verdict.protocol_sha256 != protocol.content_sha256:
        raise InputError(f"the gate verdict is for protocol {verdict.protocol_id} (sha256 "
                         f"{verdict.protocol_sha256[:12]}), not {protocol.id} (sha256 {protocol.content_sha256[:12]})")
    verdict.require_segmentation_allowed()


def _check_inputs(method: Method, units: str, seeds: tuple, roi: Optional[LesionROI],
                  seeds_mask: Optional[sitk.Image]) -> None:
    if method.needs_suv and not units.upper().startswith("SUV"):
        raise InputError(f"method {method.id} works in SUV and needs a PET image convertible to SUV; the image "
                         f"is in {units}")
    if seeds_mask is not None and method.seed_image is None:
        raise InputError(f"method {method.id} takes seed points, not a seeds mask (only grow-from-seeds does)")
    if not seeds and seeds_mask is None and not (method.seedless and roi is not None):
        needed = "at least one seed (--seed X,Y,Z)" + (" or a lesion ROI" if method.seedless else "")
        raise InputError(f"method {method.id} needs {needed}")


def _check_seeds_in_bound(bound: LesionBound, indices: tuple, points: tuple) -> None:
    for index, point in zip(indices, points):
        if not bound.contains(index):
            x, y, z = point
            raise InputError(f"seed ({x:g}, {y:g}, {z:g}) mm LPS lies outside the lesion ROI {bound.description}")


def _volume_ml(mask: sitk.Image) -> float:
    return voxel_count(mask) * float(np.prod(mask.GetSpacing())) / 1000.0


def _empty_message(method: str, image: sitk.Image, seeds: tuple, output: MethodOutput, units: str,
                   voi: VOI) -> str:
    """Why nothing passed: the seed values, the thresholds and the statistics behind them with where each
    was taken (LPS mm), and the VOI used."""
    values = ", ".join(f"{image.GetPixel(index):.4g}" for index in seeds)
    limits = ", ".join(f"{key} {value:.4g}" for key, value in output.thresholds.items()) or "none"
    sources = [f"{key} {value:.4g} {units} at ({', '.join(f'{v:.1f}' for v in output.details[key + '_lps'])}) mm LPS"
               for key, value in output.details.items() if f"{key}_lps" in output.details]
    taken = f"; from {', '.join(sources)}" if sources else ""
    return (f"method {method}: no voxel connected to the seed(s) passes (value at seed(s): {values} {units}; "
            f"thresholds: {limits} {units}{taken}; {voi.describe(image)}); place the seed inside the lesion")


def _gate_summary(verdict: Any) -> dict[str, Any]:
    return {"protocol_id": verdict.protocol_id, "protocol_version": verdict.protocol_version,
            "protocol_sha256": verdict.protocol_sha256, "overall": verdict.overall,
            "override": verdict.override.to_dict() if verdict.override else None}


def _public(parameters: Any) -> dict[str, Any]:
    return {name: getattr(parameters, name) for name in parameters.__dataclass_fields__}
