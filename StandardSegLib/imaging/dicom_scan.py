"""Header-only scan of a DICOM folder: which series are there, which files belong to each, and the few stored
values per file that ordering and checking a series need.

The per-file values are read by GDCM's ``Scanner`` (python-gdcm: Grassroots DICOM, the C++ library Slicer
and ITK read DICOM with), which parses each file in C++ up to the last requested attribute and never decodes
pixels: listing a 600-slice CT takes ~1/7 of the time pydicom's parse of every header did
(benchmarks/bench_header_scan.py). GDCM reads one element past the last attribute asked for, the whole pixel
data when no header element lies beyond it, so ask for late attributes (group 0054) only where files have
them. Whole pydicom headers are read only where a whole header is needed (``HeaderTable.dataset``): the first
file of each series for its summary, the first slice for the image record, and every slice only when a
caller asks for all of them (SUV factors, DICOM SEG/SR, de-identification), on first use. A file damaged
after the scanned attributes is therefore reported when its whole header or its pixels are read.

Files GDCM cannot read, or reads without both UIDs, and DICOMDIR files go through pydicom as before: files
that are clearly not DICOM (no ``DICM`` marker and not parseable as a dataset with a SOP instance) are skipped
with a warning; a file that *is* DICOM but cannot be parsed is an error that names it, because silently
dropping a slice would leave a gap in the volume. Without python-gdcm every file takes that path (slower, same
results).

Stored values are text as in the file with the padding removed (GDCM formats binary numbers as text; a
missing attribute is ``None``, an empty one ``""``). Two limits of GDCM's text: non-ASCII bytes arrive
undecoded (kept byte-exact, see ``stored_dataset``) and binary floats (FL/FD, e.g. CTDIvol) with 6
significant digits, so slices differing only beyond that compare equal.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence, Union, overload

import pydicom
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import DataElement, RawDataElement, convert_raw_data_element
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.tag import Tag

from StandardSegLib.errors import DicomError, InputError
from StandardSegLib.progress import ProgressCallback, progress_part, report

try:  # a pinned dependency (requirements/constraints.txt); without it every header is parsed by pydicom
    import gdcm
except ImportError:  # pragma: no cover
    gdcm = None

#: Modalities that carry no image volume (structure sets, segmentations, reports, presentation states...).
#: DICOMDIR index files carry the DICM marker but hold no image; they are skipped like non-DICOM files.
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"
NON_IMAGE_MODALITIES = frozenset({"RTSTRUCT", "RTPLAN", "RTRECORD", "SEG", "SR", "PR", "KO", "REG", "DOC"})
#: What every file is scanned for to list a folder: its series, whether it is a damaged or index file, and
#: whether it holds an image. Modality and description come from one whole header per series.
LISTING_KEYWORDS = ("MediaStorageSOPClassUID", "SOPInstanceUID", "SeriesInstanceUID", "Rows")
#: Files per GDCM scanner call; progress is reported between calls.
SCAN_CHUNK = 1000
#: Above this many distinct values of an attribute in one scanner call, values are fetched file by file
#: (GDCM's value -> files lookup walks every file once per value).
_FEW_VALUES = 8
#: VRs GDCM stores in binary and prints as numbers.
_BINARY_VRS = {"US": int, "SS": int, "UL": int, "SL": int, "UV": int, "SV": int, "FL": float, "FD": float}
_PADDING = " \x00"
#: Share of a folder scan's progress bar given to GDCM (the rest: files it could not read, parsed by pydicom).
_GDCM_SHARE = 0.9


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


def read_header(path: Path) -> Optional[pydicom.Dataset]:
    """Read one file's DICOM header with pydicom, without pixel data; ``None`` if the file is clearly not DICOM.

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


@dataclass(frozen=True)
class _ScanPass:
    """One GDCM scanner call: the attributes asked for and the files it could read."""

    scanner: Any
    tags: Mapping[str, Any]  # keyword -> gdcm.Tag
    read: frozenset[str]


class HeaderTable:
    """Stored values of selected attributes of many files, and their whole pydicom headers on demand.

    GDCM's scanner fills it (``scan``); a file it cannot read is parsed by pydicom instead (``add_dataset``) and
    its values are taken from that header. ``ensure`` scans attributes not asked for yet.
    """

    def __init__(self) -> None:
        self._passes: list[_ScanPass] = []
        self._parsed: dict[Path, dict[int, Any]] = {}  # values come from these pydicom headers' elements
        self._parsed_names: set[str] = set()
        self._headers: dict[Path, pydicom.Dataset] = {}  # whole headers read so far
        self._covered: dict[str, frozenset[str]] = {}

    # --- filling -------------------------------------------------------------------------------------------

    def scan(self, files: Sequence[Path], keywords: Iterable[str],
             progress: Optional[ProgressCallback] = None) -> list[Path]:
        """Read ``keywords`` of ``files`` with GDCM; returns the files it could not read (in order)."""
        if gdcm is None:
            return list(files)
        tags = {keyword: _gdcm_tag(keyword) for keyword in dict.fromkeys(keywords)}
        unread: list[Path] = []
        for start in range(0, len(files), SCAN_CHUNK):
            chunk = files[start:start + SCAN_CHUNK]
            names = [str(path) for path in chunk]
            scanner = gdcm.Scanner.New()
            for tag in tags.values():
                scanner.AddTag(tag)
            try:
                scanner.Scan(names)
                read = frozenset(scanner.GetKeys())
            except Exception:  # e.g. a file name the binding cannot pass to C++: pydicom reads the chunk
                read = frozenset()
            if read:
                self._passes.append(_ScanPass(scanner, tags, read))
            unread += [path for path, name in zip(chunk, names) if name not in read]
            report(progress, (start + len(chunk)) / len(files), "reading DICOM headers")
        self._covered.clear()
        return unread

    def add_dataset(self, path: Path, dataset: pydicom.Dataset) -> None:
        """Take ``path``'s stored values from its pydicom header (for files GDCM did not read)."""
        self._parsed[path] = dict(dataset.items())  # stored elements, undecoded where pydicom has not decoded them
        self._parsed_names.add(str(path))
        self._headers[path] = dataset

    def ensure(self, keywords: Iterable[str], paths: Sequence[Path], names: Optional[frozenset[str]] = None) -> None:
        """Scan the ``keywords`` not yet known for every one of ``paths`` (one more GDCM pass over them)."""
        names = names if names is not None else frozenset(str(path) for path in paths)
        missing = [keyword for keyword in dict.fromkeys(keywords)
                   if (names - self._covered_names(keyword)) - self._parsed_names]
        if not missing:
            return
        pending = [path for path in paths if path not in self._parsed]
        for path in self.scan(pending, missing):
            self.add_dataset(path, self.dataset(path))  # pydicom names a damaged file

    # --- reading -------------------------------------------------------------------------------------------

    def dataset(self, path: Path) -> pydicom.Dataset:
        """The whole pixel-free pydicom header of ``path`` (read once, then kept)."""
        header = self._headers.get(path)
        if header is None:
            header = read_header(path)
            if header is None:
                raise DicomError(f"{path}: DICOM header is unreadable (pydicom does not parse it as DICOM)")
            self._headers[path] = header
        return header

    def value(self, path: Path, keyword: str) -> Optional[str]:
        """Stored text of ``keyword`` in ``path`` (padding removed); ``None`` when absent."""
        parsed = self._parsed.get(path)
        if parsed is not None:
            return _element_text(parsed.get(tag_for_keyword(keyword)))
        name = str(path)
        for scan in self._passes:
            tag = scan.tags.get(keyword)
            if tag is not None and name in scan.read:
                return _clean(scan.scanner.GetValue(name, tag))
        raise KeyError(f"{keyword} of {path} was not scanned")

    def column(self, keyword: str, paths: Sequence[Path]) -> list[Optional[str]]:
        """``value(path, keyword)`` for every path, in order."""
        sources = [(scan.read, scan.scanner.GetValue, scan.tags[keyword]) for scan in self._passes
                   if keyword in scan.tags]
        tag = tag_for_keyword(keyword)
        values: list[Optional[str]] = []
        for path in paths:
            if self._parsed and path in self._parsed:
                values.append(_element_text(self._parsed[path].get(tag)))
                continue
            name = str(path)
            for read, get, scanned_tag in sources:
                if name in read:
                    value = get(name, scanned_tag)
                    values.append(None if value is None else value.rstrip(_PADDING))
                    break
            else:
                raise KeyError(f"{keyword} of {path} was not scanned")
        return values

    def distinct(self, keyword: str, paths: Sequence[Path], names: Optional[frozenset[str]] = None
                 ) -> Optional[set[Optional[str]]]:
        """The distinct stored values of ``keyword`` over ``paths`` (``None`` among them: absent somewhere).

        Answered per scanner call from GDCM's value index without visiting the files one by one; returns
        ``None`` when that is not possible (many distinct values, empty values): then use ``column``.
        """
        names = names if names is not None else frozenset(str(path) for path in paths)
        found: set[Optional[str]] = set()
        seen: set[str] = set()
        for scan in self._passes:
            tag = scan.tags.get(keyword)
            if tag is None:
                continue
            mine = (names & scan.read) - self._parsed_names
            if not mine:
                continue
            if not seen.isdisjoint(mine):  # scanned twice: ``value`` takes the first scan, so does ``column``
                return None
            seen |= mine
            stored = scan.scanner.GetValues(tag)
            if not stored:  # no file of this call has it
                found.add(None)
                continue
            if len(stored) > _FEW_VALUES:
                return None
            forms: dict[str, set[str]] = defaultdict(set)
            for raw in stored:  # GDCM matches values after trimming spaces: group them the same way
                forms[raw.strip(" \t\r\n\x00")].add(_clean(raw))
            hits = 0
            for trimmed, cleaned in forms.items():
                if not trimmed or len(cleaned) > 1:  # an empty value matches absent ones in GDCM's lookup
                    return None
                try:
                    holding = scan.scanner.GetAllFilenamesFromTagToValue(tag, trimmed)
                except (TypeError, UnicodeError):  # bytes that are not UTF-8 cannot be passed back to C++
                    return None
                matched = sum(1 for name in holding if name in mine)
                if matched:
                    found.update(cleaned)
                    hits += matched
            if hits != len(mine):  # absent in some files (or matched twice): ask file by file
                return None
        parsed = [path for path in paths if path in self._parsed] if self._parsed else []
        found.update(self.value(path, keyword) for path in parsed)
        if len(seen) + len(parsed) != len(names):
            raise KeyError(f"{keyword} was not scanned for every file")
        return found

    def _covered_names(self, keyword: str) -> frozenset[str]:
        covered = self._covered.get(keyword)
        if covered is None:
            covered = frozenset().union(*(scan.read for scan in self._passes if keyword in scan.tags))
            self._covered[keyword] = covered
        return covered


Index = Union[int, slice]


class SeriesHeaders(Sequence[pydicom.Dataset]):
    """The files of one series in a given order, with their scanned stored values; ``headers[k]`` is file k's
    whole pixel-free pydicom header, read on first use and kept."""

    def __init__(self, files: Sequence[Path], table: HeaderTable) -> None:
        self.files = tuple(files)
        self.table = table
        self._names = frozenset(str(path) for path in self.files)

    def __len__(self) -> int:
        return len(self.files)

    @overload
    def __getitem__(self, index: int) -> pydicom.Dataset: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[pydicom.Dataset, ...]: ...

    def __getitem__(self, index: Index) -> Any:
        if isinstance(index, slice):
            return tuple(self.table.dataset(path) for path in self.files[index])
        return self.table.dataset(self.files[index])

    def prefetch(self, keywords: Iterable[str]) -> None:
        """Make sure ``keywords`` are scanned for every file (one GDCM pass for all that are missing)."""
        self.table.ensure(keywords, self.files, self._names)

    def value(self, index: int, keyword: str) -> Optional[str]:
        self.prefetch((keyword,))
        return self.table.value(self.files[index], keyword)

    def values(self, keyword: str) -> list[Optional[str]]:
        """Stored text of ``keyword`` for every file, in order."""
        self.prefetch((keyword,))
        return self.table.column(keyword, self.files)

    def distinct(self, keyword: str) -> set[Optional[str]]:
        """The distinct stored values of ``keyword`` (``None``: absent in some file)."""
        self.prefetch((keyword,))
        found = self.table.distinct(keyword, self.files, self._names)
        return found if found is not None else set(self.table.column(keyword, self.files))

    def holders(self, keyword: str) -> dict[Optional[str], int]:
        """Each distinct stored value of ``keyword`` -> index of the first file holding it, in file order."""
        self.prefetch((keyword,))
        found = self.table.distinct(keyword, self.files, self._names)
        if found is not None and len(found) == 1:
            return {next(iter(found)): 0}
        first: dict[Optional[str], int] = {}
        for index, value in enumerate(self.table.column(keyword, self.files)):
            first.setdefault(value, index)
        return first

    def rows(self, keywords: Sequence[str]) -> list[tuple[Optional[str], ...]]:
        """Per file, the stored texts of ``keywords`` (cheap when each is the same in every file)."""
        self.prefetch(keywords)
        uniform = [self.table.distinct(keyword, self.files, self._names) for keyword in keywords]
        if all(found is not None and len(found) == 1 for found in uniform):
            return [tuple(next(iter(found)) for found in uniform)] * len(self.files)  # type: ignore[arg-type]
        return list(zip(*(self.table.column(keyword, self.files) for keyword in keywords)))

    def reordered(self, order: Iterable[int]) -> "SeriesHeaders":
        return SeriesHeaders([self.files[index] for index in order], self.table)


@dataclass(frozen=True)
class DicomFolderScan:
    """Files grouped by SeriesInstanceUID (in file-name order), their scanned values, and what was skipped."""

    files_by_series: dict[str, tuple[Path, ...]]
    table: HeaderTable
    warnings: tuple[str, ...]

    def series(self, uid: str) -> SeriesHeaders:
        return SeriesHeaders(self.files_by_series[uid], self.table)

    def summaries(self) -> list[SeriesSummary]:
        return [self._summarise(uid, files) for uid, files in self.files_by_series.items()]

    def _summarise(self, uid: str, files: tuple[Path, ...]) -> SeriesSummary:
        first = self.table.dataset(files[0])
        modality = _text(first.get("Modality"))
        number = first.get("SeriesNumber")
        rows = SeriesHeaders(files, self.table).distinct("Rows")
        return SeriesSummary(
            series_instance_uid=uid,
            modality=modality,
            series_description=_text(first.get("SeriesDescription")),
            series_number=int(number) if number not in (None, "") else None,
            number_of_files=len(files),
            is_image=modality not in NON_IMAGE_MODALITIES and any(value is not None for value in rows),
            files=files,
        )


def scan_folder(directory: str | os.PathLike, progress: Optional[ProgressCallback] = None,
                keywords: Iterable[str] = ()) -> DicomFolderScan:
    """Scan every file under ``directory`` (recursively) and group them by series.

    ``keywords``: attributes to read from every file besides ``LISTING_KEYWORDS`` in the same pass (those a
    caller will check across slices); others can still be scanned later (``SeriesHeaders.prefetch``).
    """
    root = Path(directory)
    if not root.exists():
        raise InputError(f"{root}: no such file or directory")
    if not root.is_dir():
        raise InputError(f"{root}: expected a folder of DICOM files, found a file")
    files = sorted(path for path in root.rglob("*") if path.is_file() and not path.name.startswith("."))
    if not files:
        raise DicomError(f"{root}: folder is empty (expected DICOM files)")
    table = HeaderTable()
    unread = set(table.scan(files, (*LISTING_KEYWORDS, *keywords), progress_part(progress, 0.0, _GDCM_SHARE)))
    read = [path for path in files if path not in unread]
    media = table.distinct("MediaStorageSOPClassUID", read)
    media_of = table.column("MediaStorageSOPClassUID", read) if media is None or MEDIA_STORAGE_DIRECTORY in media \
        else [None] * len(read)
    series_of: dict[Path, str] = {}
    for path, series, instance, storage in zip(read, table.column("SeriesInstanceUID", read),
                                               table.column("SOPInstanceUID", read), media_of):
        if series and instance and storage != MEDIA_STORAGE_DIRECTORY:
            series_of[path] = series
        else:  # pydicom decides: skipped (not DICOM, DICOMDIR) or an error naming a damaged file
            unread.add(path)
    skipped: list[Path] = []
    for index, path in enumerate(sorted(unread), start=1):
        dataset = read_header(path)
        if dataset is None or "SeriesInstanceUID" not in dataset:
            skipped.append(path)
        else:
            table.add_dataset(path, dataset)
            series_of[path] = str(dataset.SeriesInstanceUID)
        report(progress, _GDCM_SHARE + (1 - _GDCM_SHARE) * index / len(unread), "reading DICOM headers")
    if not series_of:
        raise DicomError(f"{root}: no DICOM files found among {len(files)} files")
    grouped: dict[str, list[Path]] = defaultdict(list)
    for path in files:
        if path in series_of:
            grouped[series_of[path]].append(path)
    warnings = tuple(f"skipped {path.relative_to(root)}: not a DICOM image file" for path in skipped)
    return DicomFolderScan({uid: tuple(members) for uid, members in grouped.items()}, table, warnings)


def scan_series(directory: str | os.PathLike, progress: Optional[ProgressCallback] = None) -> list[SeriesSummary]:
    """List the series in a DICOM folder from headers only (no pixel data is read)."""
    return scan_folder(directory, progress).summaries()


def stored_dataset(values: Mapping[str, Optional[str]]) -> pydicom.Dataset:
    """A dataset holding stored texts as a file holds them, so pydicom decodes them as it decodes a file.

    Text goes back to its exact bytes (GDCM's undecodable bytes come through as surrogate escapes); binary
    numbers, which GDCM prints as text, are parsed. ``None`` leaves the attribute out.
    """
    elements: dict[Tag, Any] = {}
    for keyword, text in values.items():
        if text is None:
            continue
        tag = Tag(tag_for_keyword(keyword))
        vr = dictionary_VR(tag)
        number = _BINARY_VRS.get(vr)
        if number is not None:
            parts = [number(part) for part in text.split("\\") if part.strip()]
            elements[tag] = DataElement(tag, vr, parts[0] if len(parts) == 1 else parts)
        else:
            raw = text.encode("utf-8", "surrogateescape")
            elements[tag] = RawDataElement(tag, vr, len(raw), raw, 0, False, True)
    return pydicom.Dataset(elements)


def _gdcm_tag(keyword: str) -> Any:
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise ValueError(f"unknown DICOM keyword {keyword!r}")
    return gdcm.Tag(tag >> 16, tag & 0xFFFF)


def _clean(value: Optional[str]) -> Optional[str]:
    return None if value is None else value.rstrip(_PADDING)


def _element_text(element: Any) -> Optional[str]:
    """A pydicom element in the scanner's form: the stored text (bytes as GDCM passes them: UTF-8 with
    surrogate escapes), binary numbers and values pydicom already decoded printed, backslash-separated."""
    if element is None:
        return None
    if isinstance(element, RawDataElement):
        vr = element.VR or dictionary_VR(element.tag)
        if vr not in _BINARY_VRS:
            return _clean((element.value or b"").decode("utf-8", "surrogateescape"))
        element = convert_raw_data_element(element)
    value = element.value
    if value is None:
        return ""
    if isinstance(value, (MultiValue, list, tuple)):
        return "\\".join(str(item) for item in value)
    return _clean(str(value))


def _text(value: object) -> Optional[str]:
    return str(value) if value not in (None, "") else None
