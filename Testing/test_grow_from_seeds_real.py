"""grow-from-seeds on the real sarcoma CTs and MRs gives the mask of Slicer's Grow from seeds effect.

Seeds (issue 17): a 5 mm ball at the expert GTV's centroid (inside the GTV) and six 3 mm background balls
10 mm outside the GTV's bounding box, along the axes through the centroid, painted as two segments in an
MRML scene as a reader paints them in the Segment Editor. The reference is what Slicer's effect does with
those segments, written here from the effect's Python (``AbstractScriptedSegmentEditorAutoCompleteEffect
.preview`` and ``SegmentEditorGrowFromSeedsEffect.computePreviewLabelmap``) on Slicer's own geometry code:
the segments' effective extent from ``DetermineCommonLabelmapGeometry``, grown by ``int(max(3, 0.1 * size))``
voxels per axis, the source volume padded/clipped to it by ``vtkImageConstantPad``, the merged labelmap
from ``GenerateMergedLabelmapForAllSegments``, then ``vtkImageGrowCutSegment``. The library gets the same
seeds as a seed image (``seed_labels_from_segments``) and must agree (Dice >= 0.99; it is the same class,
so equality is expected); the same seeds as points with radii must make the same seed image. Dice against
the expert GTV is printed for the README.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from StandardSegLib.gate import GateVerdict
from StandardSegLib.imaging import load_image
from StandardSegLib.roi import SphereROI, shape_mask
from StandardSegLib.rtstruct import read_rtstruct_mask
from StandardSegLib.segmentation import segment
from StandardSegLib.segmentation.grow_from_seeds import GrowFromSeedsParameters, seed_image
from protocol_variants import protocol_with

pytestmark = pytest.mark.mrml
STS = Path(__file__).parent / "Data" / "real" / "sts"
CASES = [(patient, modality) for patient in ("STS_001", "STS_002", "STS_003") for modality in ("CT", "MR_T1")]
PROTOCOL = {"CT": "ct-soft-tissue-lymph-node", "MR_T1": "mr-liver"}
UNITS = {"CT": "HU", "MR_T1": "raw"}


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))


def seed_points(image: sitk.Image, gtv: np.ndarray) -> tuple[tuple, list[tuple]]:
    """Centre of the voxel nearest the GTV centroid, and six points 10 mm outside the GTV's bounding box."""
    voxels = np.argwhere(gtv)
    centroid = np.rint(voxels.mean(axis=0)).astype(int)
    assert gtv[tuple(centroid)], "the GTV centroid must lie inside the GTV"
    spacing_zyx = np.asarray(image.GetSpacing())[::-1]
    low, high = voxels.min(axis=0), voxels.max(axis=0)
    background = []
    for axis in range(3):
        for edge, side in ((low[axis], -1), (high[axis], 1)):
            index = centroid.copy()
            index[axis] = edge + side * int(np.ceil(10.0 / spacing_zyx[axis]))
            assert 0 <= index[axis] < gtv.shape[axis], "the cropped study must hold the background seed"
            background.append(image.TransformIndexToPhysicalPoint([int(v) for v in index[::-1]]))
    return image.TransformIndexToPhysicalPoint([int(v) for v in centroid[::-1]]), background


def painted_segments(context, image: sitk.Image, foreground: tuple, background: list[tuple]):
    """Volume node and a segmentation with the two seed segments (balls rasterised by ``shape_mask``)."""
    from StandardSegLib.mrml.volumes import volume_node_from_image

    volume = volume_node_from_image(context.scene, image, "source")
    segmentation = context.add_segmentation(volume, "seeds")
    lesion = sitk.GetArrayFromImage(shape_mask(image, SphereROI(foreground, 10.0)))
    outside = np.zeros_like(lesion)
    for point in background:
        outside |= sitk.GetArrayFromImage(shape_mask(image, SphereROI(point, 6.0)))
    ids = (context.add_segment_from_mask(segmentation, lesion, "lesion", (1.0, 0.0, 0.0)),
           context.add_segment_from_mask(segmentation, outside, "background", (0.0, 1.0, 0.0)))
    return volume, segmentation, ids


def slicer_effect_mask(volume, segmentation, ids) -> tuple[np.ndarray, tuple[int, ...]]:
    """The lesion label of Slicer's Grow from seeds effect (first Initialize), on the volume's grid."""
    import vtk
    from vtk.util import numpy_support

    import slicer

    selected = vtk.vtkStringArray()
    for segment_id in ids:
        selected.InsertNextValue(segment_id)
    geometry = slicer.vtkOrientedImageData()
    union = slicer.vtkSegmentation.EXTENT_UNION_OF_EFFECTIVE_SEGMENTS
    slicer.vtkSegmentationConverter.DeserializeImageGeometry(
        segmentation.GetSegmentation().DetermineCommonLabelmapGeometry(union, selected), geometry)
    source = slicer.vtkSlicerSegmentationsModuleLogic.CreateOrientedImageDataFromVolumeNode(volume)
    whole, seeds = source.GetExtent(), geometry.GetExtent()
    margin = [int(max(3, 0.1 * (seeds[2 * a + 1] - seeds[2 * a]))) for a in range(3)]
    extent = [max(whole[0], seeds[0] - margin[0]), min(whole[1], seeds[1] + margin[0]),
              max(whole[2], seeds[2] - margin[1]), min(whole[3], seeds[3] + margin[1]),
              max(whole[4], seeds[4] - margin[2]), min(whole[5], seeds[5] + margin[2])]
    geometry.SetExtent(extent)
    clipper = vtk.vtkImageConstantPad()
    clipper.SetInputData(source)
    clipper.SetOutputWholeExtent(extent)
    clipper.Update()
    merged = slicer.vtkOrientedImageData()
    segmentation.GenerateMergedLabelmapForAllSegments(merged, union, geometry, selected)
    grow = slicer.vtkImageGrowCutSegment()
    clipped = slicer.vtkOrientedImageData()
    clipped.ShallowCopy(clipper.GetOutput())
    clipped.CopyDirections(geometry)
    grow.SetIntensityVolume(clipped)
    grow.SetSeedLabelVolume(merged)
    grow.Update()
    output = grow.GetOutput()
    x0, x1, y0, y1, z0, z1 = output.GetExtent()
    assert [x0, x1, y0, y1, z0, z1] == extent
    labels = numpy_support.vtk_to_numpy(output.GetPointData().GetScalars())
    full = np.zeros(source.GetDimensions()[::-1], bool)
    full[z0:z1 + 1, y0:y1 + 1, x0:x1 + 1] = labels.reshape(z1 - z0 + 1, y1 - y0 + 1, x1 - x0 + 1) == 1
    return full, (x0, y0, z0, x1 - x0 + 1, y1 - y0 + 1, z1 - z0 + 1)


@pytest.mark.parametrize("patient, modality", CASES)
def test_grow_from_seeds_equals_slicers_effect_on_real_data(mrml_context, patient, modality, capsys):
    from StandardSegLib.mrml.segments import seed_labels_from_segments

    folder = STS / patient / modality
    image = load_image(folder / "image").image
    gtv = sitk.GetArrayFromImage(read_rtstruct_mask(folder / "mask" / "RS.dcm", image, f"GTV_Mass_{modality}")) > 0
    foreground, background = seed_points(image, gtv)
    volume, segmentation, ids = painted_segments(mrml_context, image, foreground, background)
    reference, extent = slicer_effect_mask(volume, segmentation, ids)

    protocol = protocol_with(PROTOCOL[modality], {"grow-from-seeds": {}})
    verdict = GateVerdict(protocol.id, protocol.version, protocol.content_sha256, ())
    seeds = seed_labels_from_segments(segmentation, ids[0], ids[1], volume)
    painted = segment(image, protocol=protocol, verdict=verdict, method="grow-from-seeds", units=UNITS[modality],
                      seeds_mask=seeds)
    voi = painted.provenance.voi
    assert (*voi["index_start"], *voi["size"]) == extent
    ours = sitk.GetArrayFromImage(painted.mask).astype(bool)
    assert dice(ours, reference) >= 0.99

    # The same seeds given as points with radii make the same seed image in the same extent.
    index = image.TransformPhysicalPointToIndex
    from_points = seed_image(image, (index(foreground),), tuple(index(point) for point in background), None, None,
                             GrowFromSeedsParameters(seed_radius_mm=5.0, background_seed_radius_mm=3.0))
    assert (*from_points.voi.start, *from_points.voi.size) == extent
    crop = sitk.GetArrayViewFromImage(seeds)[from_points.voi.slices_zyx()]
    assert np.array_equal(sitk.GetArrayViewFromImage(from_points.labels), crop)
    assert [step.name for step in painted.provenance.steps] == ["grow-from-seeds"]  # no post-processing
    with capsys.disabled():
        print(f"\n{patient} {modality}: extent {extent[3:]} voxels, ours vs Slicer effect Dice "
              f"{dice(ours, reference):.4f}; Dice vs expert GTV: ours {dice(ours, gtv):.3f}, Slicer "
              f"{dice(reference, gtv):.3f}; volume {painted.provenance.volume_mm3 / 1000:.1f} mL "
              f"(GTV {gtv.sum() * np.prod(image.GetSpacing()) / 1000:.1f} mL)")
