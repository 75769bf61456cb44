"""Segmentation engine: semi-automatic methods in a VOI, post-processing, scripted manual edits,
multi-modality reference and per-segment provenance.

Public API:

- ``segment(image, *, protocol, verdict, method, units, seeds_lps, background_seeds_lps, box, parameters,
  background, operator, roi_modality, alignment, progress) -> Segment`` (``engine``);
- ``METHODS`` (id -> Method) and ``check_method_allowed(protocol, method)``;
- edits: ``paint_sphere``, ``erase_sphere``, ``add_mask``, ``subtract_mask`` (recorded as MANUAL);
- ``onto_primary_grid(second, primary, second_frame_uid, primary_frame_uid) -> (image, Alignment)``;
- ``write_segment(segment, path, overwrite=False) -> (mask path, provenance path)``;
- ``Segment`` (mask + ``SegmentProvenance``), ``ProcessingStep``, ``MANUAL``/``SEMIAUTOMATIC``/``AUTOMATIC``.
"""

from StandardSegLib.segmentation.engine import allowed_methods, check_method_allowed, segment
from StandardSegLib.segmentation.manual_edits import add_mask, edit_to_match, erase_sphere, paint_sphere, subtract_mask
from StandardSegLib.segmentation.mask_files import provenance_path, write_segment
from StandardSegLib.segmentation.multimodality import Alignment, onto_primary_grid
from StandardSegLib.segmentation.provenance import (ALGORITHM_TYPES, AUTOMATIC, MANUAL, SEMIAUTOMATIC,
                                                    ProcessingStep, Segment, SegmentProvenance)
from StandardSegLib.segmentation.registry import METHODS

__all__ = [
    "ALGORITHM_TYPES", "AUTOMATIC", "Alignment", "MANUAL", "METHODS", "ProcessingStep", "SEMIAUTOMATIC", "Segment",
    "SegmentProvenance", "add_mask", "allowed_methods", "check_method_allowed", "edit_to_match", "erase_sphere",
    "onto_primary_grid", "paint_sphere", "provenance_path", "segment", "subtract_mask", "write_segment",
]
