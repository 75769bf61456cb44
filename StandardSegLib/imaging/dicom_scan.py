"""Header-only scan of a DICOM folder: which series are there, and which files belong to each.

Reading stops before the pixel data (``stop_before_pixels``), so listing a 600-slice CT costs a fraction of
loading it. Files that are clearly not DICOM (no ``DICM`` marker and not parseable as a dataset with a SOP
instance) are skipped with a warning; a file that *is* DICOM but cannot be parsed is an error that names it,
because silently dropping a slice would leave a gap in the volume.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pydicom
from pydicom.errors import InvalidDicomError

from StandardSegLib.errors import DicomError, InputError
from StandardSegLib.progress import ProgressCallback, report

#: Modalities that carry no image volume (structure sets, segmentations, reports, presentation states...).
#: DICOMDIR index files carry the DICM marker but hold no image; they are skipped like non-DICOM files.
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"
NON_IMAGE_MODALITIES = frozenset({"RTSTRUCT", "RTPLAN", "RTRECORD", "SEG", "SR", "PR", "KO", "REG", "DOC"})


@dataclass(frozen=True)
class SeriesSummary:
    """One series found in a folder (headers of its first file, counted files)."""

    series_instance_uid: str
    modality: Optional[str]
    series_description: Optional[str]
    series_number: Optional[int]
    number_of_files: int
    is_image: bool
    files: tuple[Path, ...]

    def describe(self) -> str:
        """One line for error messages and listings (no patient identifiers)."""
        return (f"{self.series_instance_uid} ({self.modality or '?'}, "
                f"'{self.series_description or ''}', {self.number_of_files} files)")


@dataclass(frozen=True)
class DicomFolderScan:
    """Headers grouped by SeriesInstanceUID, plus what was skipped and why."""

    headers_by_series: dict[str, tuple[tuple[Path, pydicom.Dataset], ...]]
    warnings: tuple[str, ...]

    def summaries(self) -> list[SeriesSummary]:
        return [_summarise(uid, members) for uid, members in self.headers_by_series.items()]


def read_header(path: Path) -> Optional[pydicom.Dataset]:
    """Read one file's DICOM header without pixel data; ``None`` if the file is clearly not DICOM.

    Files without the ``DICM`` preamble are still accepted when they parse into a dataset with a
    SOPInstanceUID (old ACR-NEMA style exports do this). A file with the marker but without its UIDs is
    truncated or damaged: an error, not a skip, so a slice cannot silently go missing. DICOMDIR is skipped.
    """
    try:
        dataset = pydicom.dcmread(path, stop_before_pixels=True)
    except InvalidDicomError:
        dataset = None
    except Exception as error:  # pydicom raises many types on a damaged header
        raise DicomError(f"{path}: DICOM header is unreadable ({type(error).__name__}: {error})") from error
    if dataset is not None:
        if dataset.file_meta.get("MediaStorageSOPClassUID") == MEDIA_STORAGE_DIRECTORY:
            return None
        if "SOPInstanceUID" not in dataset or "SeriesInstanceUID" not in dataset:
            # pydicom stops quietly at the end of a truncated file: a DICM file without its UIDs is damaged
            raise DicomError(f"{path}: DICOM header is unreadable (SOPInstanceUID/SeriesInstanceUID missing; "
                             "truncated or damaged file)")
        return dataset
    try:
        dataset = pydicom.dcmread(path, stop_before_pixels=True, force=True)
        return dataset if "SOPInstanceUID" in dataset else None
    except Exception:
        return None


def scan_folder(directory: str | os.PathLike, progress: Optional[ProgressCallback] = None) -> DicomFolderScan:
    """Read every file's header under ``directory`` (recursively) and group them by series."""
    root = Path(directory)
    if not root.exists():
        raise InputError(f"{root}: no such file or directory")
    if not root.is_dir():
        raise InputError(f"{root}: expected a folder of DICOM files, found a file")
    files = sorted(path for path in root.rglob("*") if path.is_file() and not path.name.startswith("."))
    if not files:
        raise DicomError(f"{root}: folder is empty (expected DICOM files)")
    grouped: dict[str, list[tuple[Path, pydicom.Dataset]]] = defaultdict(list)
    skipped: list[Path] = []
    for index, path in enumerate(files, start=1):
        dataset = read_header(path)
        if dataset is None or "SeriesInstanceUID" not in dataset:
            skipped.append(path)
        else:
            grouped[str(dataset.SeriesInstanceUID)].append((path, dataset))
        report(progress, index / len(files), "reading DICOM headers")
    if not grouped:
        raise DicomError(f"{root}: no DICOM files found among {len(files)} files")
    warnings = tuple(f"skipped {path.relative_to(root)}: not a DICOM image file" for path in skipped)
    return DicomFolderScan({uid: tuple(members) for uid, members in grouped.items()}, warnings)


def scan_series(directory: str | os.PathLike, progress: Optional[ProgressCallback] = None) -> list[SeriesSummary]:
    """List the series in a DICOM folder from headers only (no pixel data is read)."""
    return scan_folder(directory, progress).summaries()


def _summarise(uid: str, members: tuple[tuple[Path, pydicom.Dataset], ...]) -> SeriesSummary:
    first = members[0][1]
    modality = _text(first.get("Modality"))
    number = first.get("SeriesNumber")
    return SeriesSummary(
        series_instance_uid=uid,
        modality=modality,
        series_description=_text(first.get("SeriesDescription")),
        series_number=int(number) if number not in (None, "") else None,
        number_of_files=len(members),
        is_image=modality not in NON_IMAGE_MODALITIES and any("Rows" in ds for _, ds in members),
        files=tuple(path for path, _ in members),
    )


def _text(value: object) -> Optional[str]:
    return str(value) if value not in (None, "") else None
