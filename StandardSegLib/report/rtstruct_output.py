"""RTSTRUCT of the segmented lesions, for radiotherapy systems that read contours rather than DICOM SEG.

Written with rt-utils (qurit/rt-utils, the maintained mask-to-RTSTRUCT writer; highdicom has no RTSTRUCT):
it builds the Structure Set, ROI Contour and RT ROI Observations modules from the source series' headers and
traces each slice of a mask with OpenCV's border following. Two of its 1.2.7 behaviours are adapted here, on
the headers it is given (never on the files written):

- It traces through the centres of the boundary voxels, so a system that fills contours at voxel centres
  (``StandardSegLib.rtstruct``, and treatment-planning systems) loses the outer ring of voxels: a half-voxel
  inset: 11, 27 and 24 % of the STS_001-003 PET GTVs (366, 54, 80 mL), lone voxels written as single points
  (rt-utils PR #141 adds voxel-edge contours, after 1.2.7). So each
  slice is handed over on the grid of voxel centres *and* corners (half the spacing, starting a voxel early),
  with a node set when it is the centre, an edge midpoint or a corner of a segment voxel: the traced nodes then
  lie on the voxel edges and voxel-centre filling gives back exactly the segment's voxels.
- It scales the row direction by PixelSpacing[0] (the spacing *between rows*) and the column direction by
  PixelSpacing[1]; the half-spacing headers give it the spacings in the order it uses them, so non-square
  pixels land where they belong.

Both are checked by reading the written file back with ``StandardSegLib.rtstruct`` (same voxels, Dice 1).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Sequence

import numpy as np
import SimpleITK as sitk

from StandardSegLib import __version__
from StandardSegLib.report.dicom_outputs import person_name

if TYPE_CHECKING:
    import pydicom

    from StandardSegLib.report.inputs import ReportInputs

RTSTRUCT_SERIES_NUMBER = 9903
#: ROI colours (RGB 0-255) cycled over the lesions, as in the Slicer session.
_COLOURS = ((230, 77, 51), (51, 153, 230), (242, 191, 26), (102, 204, 89), (179, 102, 217), (242, 128, 179))


def build_rtstruct(inputs: ReportInputs, datasets: Sequence[pydicom.Dataset]) -> pydicom.Dataset:
    """One ROI per lesion (named as in report.json) on the series of ``datasets`` (the source headers in
    z-index order, possibly de-identified copies, as for the SEG)."""
    from rt_utils import RTStruct
    from rt_utils.ds_helper import create_rtstruct_dataset
    from rt_utils.image_helper import get_slice_position

    order = sorted(range(len(datasets)), key=lambda k: float(get_slice_position(datasets[k])))
    corner_headers = [_corner_grid_header(datasets[k]) for k in order]
    rtstruct = RTStruct(corner_headers, create_rtstruct_dataset(corner_headers))
    for number, lesion in enumerate(inputs.lesions):
        voxels = sitk.GetArrayViewFromImage(lesion.segment.mask)[order] > 0  # (slices, rows, columns)
        provenance = lesion.segment.provenance
        rtstruct.add_roi(mask=np.transpose(corner_grid(voxels), (1, 2, 0)), name=lesion.name,
                         color=list(_COLOURS[number % len(_COLOURS)]), description=provenance.method,
                         roi_generation_algorithm=provenance.algorithm_type)
    dataset = rtstruct.ds
    _fit_contour_numbers(dataset)
    source = datasets[0]
    # Attributes rt-utils 1.2.7 leaves out (dciodvfy): General Study and Frame of Reference from the source,
    # RT Series' Type 2 OperatorsName (the reader who made the segments).
    for keyword in ("ReferringPhysicianName", "AccessionNumber", "FrameOfReferenceUID", "PositionReferenceIndicator"):
        setattr(dataset, keyword, source.get(keyword, ""))
    dataset.OperatorsName = person_name(inputs.operator.name) if inputs.operator is not None else ""
    dataset.SeriesDescription = "StandardSeg lesions (RTSTRUCT)"
    dataset.SeriesNumber = RTSTRUCT_SERIES_NUMBER
    dataset.Manufacturer = "StandardSeg"
    dataset.ManufacturerModelName = "StandardSeg report bundle"
    dataset.SoftwareVersions = f"StandardSeg {__version__}"
    dataset.StructureSetLabel = "LESIONS"
    dataset.StructureSetName = "StandardSeg lesions"
    return dataset


def _fit_contour_numbers(dataset: pydicom.Dataset) -> None:
    """ContourData as DS strings of at most 16 characters (PS3.5 6.2; rt-utils writes Python's full repr,
    which dciodvfy reports), keeping as many significant digits as fit."""
    from pydicom.valuerep import format_number_as_ds

    for roi in dataset.ROIContourSequence:
        for contour in roi.get("ContourSequence", []):
            contour.ContourData = [format_number_as_ds(float(value)) for value in contour.ContourData]


def corner_grid(voxels: np.ndarray) -> np.ndarray:
    """(slices, 2 rows + 3, 2 columns + 3) nodes every half voxel from one voxel before the first centre, so
    they fall on voxel corners, edge midpoints and centres with a free ring all round (OpenCV's border
    following ignores the outermost pixels); a node is set when it belongs to a set voxel (3 x 3 in-plane
    dilation of the centre nodes)."""
    slices, rows, columns = voxels.shape
    shape = (slices, 2 * rows + 3, 2 * columns + 3)
    centres = np.zeros((slices, shape[1] + 2, shape[2] + 2), dtype=bool)
    centres[:, 3:-2:2, 3:-2:2] = voxels  # voxel (j, i) is node (2j + 2, 2i + 2), here one node further in
    nodes = np.zeros(shape, dtype=bool)
    for dy in range(3):
        for dx in range(3):
            nodes |= centres[:, dy:dy + shape[1], dx:dx + shape[2]]
    return nodes


def _corner_grid_header(dataset: pydicom.Dataset) -> pydicom.Dataset:
    """A header copy describing the node grid of ``corner_grid`` in the order rt-utils reads it (module
    docstring): half the spacing, origin moved one voxel back along rows and columns."""
    header = copy.deepcopy(dataset)
    row_spacing, column_spacing = (float(value) for value in dataset.PixelSpacing)
    along_row, along_column = np.asarray(dataset.ImageOrientationPatient, dtype=float).reshape(2, 3)
    origin = (np.asarray(dataset.ImagePositionPatient, dtype=float)
              - column_spacing * along_row - row_spacing * along_column)
    header.ImagePositionPatient = [float(value) for value in origin]
    header.PixelSpacing = [column_spacing / 2.0, row_spacing / 2.0]  # rt-utils: [0] along a row, [1] down a column
    header.Rows, header.Columns = 2 * int(dataset.Rows) + 3, 2 * int(dataset.Columns) + 3
    return header
