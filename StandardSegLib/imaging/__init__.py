"""Image loading and the image record.

Public API (other packages import only from here):

- ``load_image(path, series_uid=None, progress=None) -> LoadedImage``: pixels in real-world values (per-slice
  rescale applied), LPS geometry, the record, the pixel-free DICOM headers in slice order, the files read.
- ``read_image_record(path, series_uid=None) -> ImageRecord``: headers only.
- ``read_image_headers(path, series_uid=None) -> (ImageRecord, datasets)``: headers only, with the datasets.
- ``image_source_files(path, series_uid=None) -> tuple[Path, ...]``: the files ``load_image`` would read.
- ``scan_series(directory, progress=None) -> list[SeriesSummary]``: the series in a DICOM folder.
- ``read_mask_file(path, image=None, roi=None, ...) -> SimpleITK.Image``: a mask/label file as stored
  (integer labels kept), or one ROI of an RTSTRUCT rasterised onto ``image``.
"""

from StandardSegLib.imaging.dicom_numbers import stored_number, tag_label
from StandardSegLib.imaging.dicom_scan import SeriesSummary, scan_series
from StandardSegLib.imaging.finite_values import require_finite
from StandardSegLib.imaging.geometry import ImageGeometry
from StandardSegLib.imaging.image_files import read_mask_file
from StandardSegLib.imaging.loaded import (LoadedImage, image_source_files, load_image, read_image_headers,
                                          read_image_record)
from StandardSegLib.imaging.pixel_scale import require_zero_pet_intercept
from StandardSegLib.imaging.record import ImageRecord

__all__ = [
    "ImageGeometry",
    "ImageRecord",
    "LoadedImage",
    "SeriesSummary",
    "image_source_files",
    "load_image",
    "read_image_headers",
    "read_image_record",
    "read_mask_file",
    "require_finite",
    "require_zero_pet_intercept",
    "scan_series",
    "stored_number",
    "tag_label",
]
