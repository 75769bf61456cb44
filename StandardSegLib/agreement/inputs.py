"""Readers' masks for an agreement study, all on one grid.

A mask is named like on the command line:

- ``FILE`` - a voxel mask (NRRD, NIfTI, ...): non-zero is inside;
- ``RS.dcm:ROI`` - one structure of an RTSTRUCT, rasterised by geometry onto the grid image
  (``StandardSegLib.rtstruct``; the grid image is required);
- ``BUNDLE:SEGMENT`` - one segment of a report bundle (``segments/<SEGMENT>.seg.nrrd``); ``BUNDLE`` alone when
  the bundle holds a single segment.

Every mask of a lesion is placed on that lesion's grid: the grid image when given, else the first reader's
mask. Voxel masks on another grid are resampled nearest-neighbour (``measure.align_mask``, noted).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence

import SimpleITK as sitk

from StandardSegLib.errors import InputError
from StandardSegLib.files import sha256_of
from StandardSegLib.imaging import read_mask_file
from StandardSegLib.measure import align_mask
from StandardSegLib.rtstruct import is_rtstruct

if TYPE_CHECKING:
    from StandardSegLib.imaging.loaded import LoadedImage

SEGMENTS = "segments"


@dataclass(frozen=True)
class MaskSpec:
    """Where one reader's mask of one lesion comes from."""

    text: str  # as given
    path: Path
    part: Optional[str]  # RTSTRUCT ROI or bundle segment name

    @property
    def label(self) -> str:
        return f"{self.path.name}:{self.part}" if self.part else self.path.name


def parse_mask_spec(text: str) -> MaskSpec:
    """``FILE``, ``RS.dcm:ROI`` or ``BUNDLE[:SEGMENT]``; the part after the last ":" is a name only when the
    whole text is not an existing path."""
    path = Path(text)
    if path.exists():
        return MaskSpec(text, path, None)
    head, separator, part = text.rpartition(":")
    if separator and head and part and Path(head).exists():
        return MaskSpec(text, Path(head), part)
    raise InputError(f"mask {text!r}: expected an existing file, RS.dcm:ROI or BUNDLE:SEGMENT, found no such path")


def read_lesion_masks(specs: Sequence[MaskSpec],
                      grid: Optional[LoadedImage]) -> tuple[list[sitk.Image], list[str], list[str]]:
    """The masks (uint8, 1 inside) on one grid, the SHA-256 of each file read (the segment file of a bundle),
    and notes on any resampling or RTSTRUCT warning."""
    notes: list[str] = []
    reference = grid.image if grid is not None else None
    masks, hashes = [], []
    for spec in specs:
        mask, source = _read(spec, grid, notes)
        hashes.append(sha256_of(source))
        if reference is None:
            reference = mask
        aligned, aligned_notes = align_mask(mask, reference, spec.label)
        notes.extend(aligned_notes)
        binary = sitk.Cast(aligned != 0, sitk.sitkUInt8)
        masks.append(binary)
    return masks, hashes, notes


def _read(spec: MaskSpec, grid: Optional[LoadedImage], notes: list[str]) -> tuple[sitk.Image, Path]:
    """The mask as stored and the file it came from."""
    if spec.path.is_dir():
        return _bundle_segment(spec)
    if is_rtstruct(spec.path):
        if grid is None:
            raise InputError(f"mask {spec.text}: an RTSTRUCT's contours need a grid image to be rasterised onto; "
                             f"give --grid IMAGE")
        return read_mask_file(spec.path, grid.image, spec.part, grid.datasets, notes), spec.path
    if spec.part is not None:
        raise InputError(f"mask {spec.text}: ':{spec.part}' names an RTSTRUCT ROI or a bundle segment, "
                         f"but {spec.path.name} is a voxel mask")
    return read_mask_file(spec.path), spec.path


def _bundle_segment(spec: MaskSpec) -> tuple[sitk.Image, Path]:
    folder = spec.path / SEGMENTS
    names = sorted(path.name[:-len(".seg.nrrd")] for path in folder.glob("*.seg.nrrd"))
    if not names:
        raise InputError(f"mask {spec.text}: expected a report bundle with segments/*.seg.nrrd, found none")
    if spec.part is None and len(names) > 1:
        raise InputError(f"mask {spec.text}: the bundle holds {len(names)} segments ({', '.join(names)}); "
                         f"name one as BUNDLE:SEGMENT")
    name = spec.part or names[0]
    if name not in names:
        raise InputError(f"mask {spec.text}: no segment '{name}' in the bundle (found {', '.join(names)})")
    path = folder / f"{name}.seg.nrrd"
    mask = sitk.ReadImage(str(path))
    return (sitk.VectorIndexSelectionCast(mask, 0) if mask.GetNumberOfComponentsPerPixel() > 1 else mask), path
