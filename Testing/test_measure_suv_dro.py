"""OncoRay SUV digital reference objects through the library: SUVbw min 0.20, median 1.00, max 4.00.

The series is stacked here with pydicom (slope applied per slice, slices ordered along the normal), so the
library's SUV and statistics are tested without the image loader; ``test_measure_cli`` covers the same
objects through ``standardseg measure`` and the loader.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from StandardSegLib.measure import align_mask, region_statistics
from StandardSegLib.suv import apply_suv, suv_conversion

DRO = Path(__file__).resolve().parent / "Data" / "suv_dro"


def stack_pet(directory: Path) -> tuple[sitk.Image, list[pydicom.Dataset]]:
    datasets = [pydicom.dcmread(path) for path in sorted(directory.iterdir())]
    datasets.sort(key=lambda ds: float(ds.ImagePositionPatient[2]))
    array = np.stack([ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept) for ds in datasets])
    image = sitk.GetImageFromArray(array.astype(np.float64))
    spacing = [float(value) for value in datasets[0].PixelSpacing]
    slice_mm = float(datasets[1].ImagePositionPatient[2]) - float(datasets[0].ImagePositionPatient[2])
    image.SetSpacing((spacing[1], spacing[0], slice_mm))
    image.SetOrigin(tuple(float(value) for value in datasets[0].ImagePositionPatient))
    return image, datasets


@pytest.mark.parametrize("name", ["DRO_0_0", "DRO_2_0"])
def test_dro_suvbw_min_median_max(name):
    image, datasets = stack_pet(DRO / name / "PT")
    conversion = suv_conversion(datasets, "SUVbw")
    mask, warnings = align_mask(sitk.ReadImage(str(DRO / name / "mask" / "DRO_mask.nii.gz")), image)
    assert warnings == []
    stats = region_statistics(apply_suv(image, conversion), mask, units="SUVbw", with_peak=True)
    assert (round(stats.min, 2), round(stats.median, 2), round(stats.max, 2)) == (0.20, 1.00, 4.00)
    assert round(stats.peak, 2) == 4.00   # the hot sphere is larger than 1 mL
