"""Mask-file options of the commands: a voxel mask, or one structure of an RTSTRUCT, named the same way.

``measure --mask RS.dcm --roi NAME`` set the pattern and every mask option follows it: ``--X[-mask] FILE``
takes a label image or an RTSTRUCT (``RS.dcm``, contours rasterised onto the image by geometry,
``StandardSegLib.rtstruct``), and its companion ``--X-roi NAME`` names the structure: ``--mask``/``--roi``,
``--voi-mask``/``--voi-roi``, ``--lesion``/``--lesion-roi``, ``--background``/``--background-roi``,
``--reference-mask``/``--reference-roi``. The name is optional when the file holds one structure; when it is
absent, unknown or ambiguous the error lists the file's ROI names and names the option to use. JOB.yaml
writes the same pair as ``mask: {path, roi}``. A companion option rather than ``FILE:ROI`` in one string,
because ROI names and paths may both hold a colon (``GTV:1``, ``C:\\data``).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any, Optional, Sequence

from StandardSegLib.errors import InputError

if TYPE_CHECKING:
    import pydicom
    import SimpleITK as sitk


def roi_option(mask_option: str) -> str:
    """The option naming the RTSTRUCT ROI of ``mask_option``: ``--voi-mask`` -> ``--voi-roi``,
    ``--lesion`` -> ``--lesion-roi``, ``--mask`` -> ``--roi``."""
    stem = mask_option.removeprefix("--").removesuffix("mask").rstrip("-")
    return f"--{stem}-roi" if stem else "--roi"


def add_roi_argument(parser: Any, mask_option: str) -> None:
    """Add ``roi_option(mask_option)`` to ``parser`` (an ArgumentParser or argument group)."""
    parser.add_argument(roi_option(mask_option), metavar="NAME",
                        help=f"ROI of an RTSTRUCT {mask_option} (optional when it holds one; its ROI names are "
                        f"listed when absent or wrong)")


def read_mask_option(args: argparse.Namespace, mask_option: str, image: sitk.Image,
                     datasets: Sequence[pydicom.Dataset] = (),
                     warnings: Optional[list[str]] = None) -> Optional[sitk.Image]:
    """The mask given with ``mask_option`` (None when not given), an RTSTRUCT's ROI rasterised onto
    ``image`` (``datasets``: its DICOM headers, to check the frame of reference; RTSTRUCT warnings are
    appended to ``warnings``). A ROI name without its mask file is refused rather than ignored."""
    from StandardSegLib.imaging import read_mask_file

    option = roi_option(mask_option)
    path = getattr(args, _dest(mask_option))
    roi = getattr(args, _dest(option))
    if path is None:
        if roi is not None:
            raise InputError(f"{option} {roi!r} names a structure of an RTSTRUCT {mask_option}, but no "
                             f"{mask_option} was given")
        return None
    return read_mask_file(path, image, roi, datasets, warnings, roi_option=option)


def _dest(option: str) -> str:
    return option.removeprefix("--").replace("-", "_")
