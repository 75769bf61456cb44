"""Report figures and presentation helpers (issue 16), checked against constructions whose answer is known:
a lesion with markers placed left, anterior and superior of it must show on the side the radiological
convention puts them, whatever order the voxels are stored in; numbers print at the precision a reader uses;
the combined input hash equals what ``sha256sum`` gives for the listing.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess

import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image

from StandardSegLib.report.figures import (CONTOUR_RGB, DISPLAY_PIXELS, Underlay, Window, lesion_figure,
                                           pet_mip, scale_bar_mm)
from StandardSegLib.report.html_records import inputs_digest
from StandardSegLib.report.presentation import (format_number, format_quantity, readable, record_list, table)

SIZE = 61  # voxels per side, 1 mm, centre voxel 30
MARKER_OFFSET = 18  # mm from the lesion centre


def _phantom(direction: tuple[float, ...] = (1, 0, 0, 0, 1, 0, 0, 0, 1)) -> tuple[sitk.Image, sitk.Image]:
    """A ball lesion (radius √29.5 mm, value 5) at the LPS origin with markers (value 10) 18 mm to the patient's left (+x),
    anterior (-y) and superior (+z), stored with ``direction`` (LPS identity, or flipped axes)."""
    values = np.zeros((SIZE,) * 3, dtype=np.float32)
    mask = np.zeros((SIZE,) * 3, dtype=np.uint8)
    image = sitk.GetImageFromArray(values)
    image.SetDirection(direction)
    # place the origin so that the centre voxel is at LPS (0, 0, 0)
    matrix = np.asarray(direction).reshape(3, 3)
    image.SetOrigin([float(c) for c in -matrix @ np.full(3, SIZE // 2)])
    lps_to_index = {}
    for point in [(x, y, z) for x in range(-5, 6) for y in range(-5, 6) for z in range(-5, 6)
                  if x * x + y * y + z * z <= 29.5]:  # 29 = 5² + 2²: only the middle section has it
        lps_to_index[point] = image.TransformPhysicalPointToIndex(point)
    for index in lps_to_index.values():
        values[index[::-1]] = 5.0
        mask[index[::-1]] = 1
    for point in [(MARKER_OFFSET, 0, 0), (0, -MARKER_OFFSET, 0), (0, 0, MARKER_OFFSET)]:
        for dx in range(-2, 3):
            for dy in range(-2, 3):
                for dz in range(-2, 3):
                    index = image.TransformPhysicalPointToIndex((point[0] + dx, point[1] + dy, point[2] + dz))
                    values[index[::-1]] = 10.0
    result = sitk.GetImageFromArray(values)
    result.CopyInformation(image)
    lesion = sitk.GetImageFromArray(mask)
    lesion.CopyInformation(image)
    return result, lesion


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def _bright_centroid(picture: np.ndarray) -> tuple[float, float]:
    """(row, column) of the white marker pixels (value 10 in a 0-8 window saturates to white)."""
    rows, columns = np.nonzero(picture.min(axis=2) == 255)
    return float(rows.mean()), float(columns.mean())


@pytest.mark.parametrize("direction", [(1, 0, 0, 0, 1, 0, 0, 0, 1), (-1, 0, 0, 0, -1, 0, 0, 0, 1),
                                       (1, 0, 0, 0, 0, 1, 0, -1, 0)], ids=["LPS", "RAS-stored", "coronal-stored"])
def test_views_follow_the_radiological_convention(direction):
    values, mask = _phantom(direction)
    figure = lesion_figure(values, mask, Window(0.0, 8.0))
    views = {view.plane.name: view for view in figure.views}
    assert [view.plane.name for view in figure.views] == ["axial", "coronal", "sagittal"]
    centre = (DISPLAY_PIXELS - 1) / 2.0
    # axial (z = 0): the left marker right of centre, the anterior marker above it
    picture = _pixels(views["axial"].png)
    left_or_anterior = np.nonzero(picture.min(axis=2) == 255)
    assert (left_or_anterior[1] > centre + 20).any() and (left_or_anterior[0] < centre - 20).any()
    assert not (left_or_anterior[1] < centre - 20).any() and not (left_or_anterior[0] > centre + 20).any()
    # coronal (y = 0): the superior marker above the centre, the left one right of it
    rows, columns = np.nonzero(_pixels(views["coronal"].png).min(axis=2) == 255)
    assert (rows < centre - 20).any() and (columns > centre + 20).any() and not (rows > centre + 20).any()
    # sagittal (x = 0): anterior on the left, superior up
    rows, columns = np.nonzero(_pixels(views["sagittal"].png).min(axis=2) == 255)
    assert (columns < centre - 20).any() and (rows < centre - 20).any() and not (columns > centre + 20).any()
    for view in figure.views:
        assert view.position_mm == pytest.approx(0.0, abs=1e-6)  # the ball's largest section is its middle
        assert view.field_mm == pytest.approx(60.0) and view.scale_bar_mm == 10.0
        contour = (_pixels(view.png) == CONTOUR_RGB).all(axis=2)
        rows, columns = np.nonzero(contour)
        # the ball's middle section spans 11 voxels = 11/60 of the field around the centre
        half = 11 / 60 * DISPLAY_PIXELS / 2
        assert rows.min() >= centre - half - 2 and rows.max() <= centre + half + 2
        assert columns.max() - columns.min() == pytest.approx(2 * half, abs=3)
    assert figure.values.tolist() == [5.0] * int(sitk.GetArrayViewFromImage(mask).sum())
    assert figure.centre_lps == pytest.approx((0.0, 0.0, 0.0), abs=1e-6)


def test_fused_views_come_first_and_show_the_anatomy_outside_the_uptake():
    values, mask = _phantom()
    anatomy = sitk.Cast(values * 0 - 1000.0, sitk.sitkFloat32)  # air everywhere: black under the PET
    anatomy = sitk.Resample(anatomy, [30, 30, 30], sitk.Transform(), sitk.sitkLinear, (-29.0, -29.0, -29.0),
                            (2.0, 2.0, 2.0), (1, 0, 0, 0, 1, 0, 0, 0, 1), -1000.0)  # another grid, same space
    figure = lesion_figure(values, mask, Window(0.0, 8.0), Underlay.of(anatomy, "CT"))
    assert [view.fused for view in figure.views] == [True] * 3 + [False] * 3
    picture = _pixels(figure.views[0].png)
    centre = DISPLAY_PIXELS // 2
    assert tuple(picture[5, centre]) == (0, 0, 0)  # CT air in a soft-tissue window, no uptake
    red, green, blue = (int(c) for c in picture[centre, centre])
    assert red > green > blue  # hot scale over the lesion (5 of 8: red-orange)


def test_mip_marks_each_lesion_where_it_projects():
    values, mask = _phantom()
    mip = pet_mip(values, Window(0.0, 8.0, invert=True), [(0.0, 0.0, 0.0), (MARKER_OFFSET, 0.0, MARKER_OFFSET)])
    # the volume spans -30.5..30.5 mm: x = 0 is the middle, x = 18 mm is 48.5/61 from the left edge
    assert mip.markers[0] == (1, pytest.approx(0.5), pytest.approx(0.5))
    assert mip.markers[1] == (2, pytest.approx(48.5 / 61), pytest.approx(12.5 / 61))
    picture = _pixels(mip.png)
    assert picture.shape[:2] == (mip.height_pixels, mip.width_pixels)
    assert picture[mip.height_pixels // 2, mip.width_pixels // 2, 0] < 100  # inverted: the lesion is dark


def test_scale_bar_is_a_round_length_up_to_a_quarter_of_the_field():
    assert [scale_bar_mm(field) for field in (20, 60, 80, 200, 1000)] == [5, 10, 20, 50, 200]


def test_numbers_print_at_reading_precision():
    assert format_number(236900.0, "mm3") == "236900"  # never 2.369e+05
    assert format_number(2.626287, "1") == "2.63"
    assert format_number(12.2156, "ml") == "12.22"
    assert format_number(4.6649, "SUVbw") == "4.66" and format_number(20.38, "SUVbw*ml") == "20.38"
    assert format_number(-0.4, "HU") == "0" and format_number(41.6, "HU") == "42"
    assert format_number(12.25, "mm") == "12.2" or format_number(12.25, "mm") == "12.3"
    assert format_number(None, "ml") == "" and format_number(8) == "8"
    assert readable(3.26999999999998) == "3.27" and readable([0.9765625, 0.9765625]) == "0.9766, 0.9766"
    assert format_quantity(12.2156, "ml") == "12.22 mL" and format_quantity(293.07, "mm2") == "293 mm²"
    for exponent in range(-6, 9):
        assert "e" not in format_number(1.2345 * 10.0 ** exponent)


def test_markup_is_escaped_and_tables_have_header_cells():
    page = table(("Name", "Value"), [("<b>x</b>", 1.5)], caption="c & d")
    assert "&lt;b&gt;x&lt;/b&gt;" in page and '<th scope="col">Name</th>' in page and "c &amp; d" in page
    listing = record_list({"pixel_spacing_mm": [0.9765625, 0.9765625], "kvp": None})
    assert "<dt>Pixel spacing (mm)</dt><dd>0.9766, 0.9766</dd>" in listing and "Kvp" not in listing


@pytest.mark.skipif(shutil.which("sha256sum") is None, reason="sha256sum (GNU coreutils) is not installed")
def test_combined_input_hash_is_the_sha256sum_of_the_listing(tmp_path):
    entries = [{"path": f"study/{name}", "sha256": hashlib.sha256(name.encode()).hexdigest()}
               for name in ("b.dcm", "a.dcm", "c d.dcm")]
    listing = tmp_path / "listing.txt"
    listing.write_text("".join(f"{e['sha256']}  {e['path']}\n" for e in sorted(entries, key=lambda e: e["path"])),
                       encoding="utf-8")
    expected = subprocess.run(["sha256sum", str(listing)], capture_output=True, text=True, check=True).stdout.split()[0]
    assert inputs_digest(entries) == expected
    assert inputs_digest(list(reversed(entries))) == expected  # order-independent
