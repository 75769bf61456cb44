"""Hostile headers: mutated PET and CT series end in the unmutated numbers or in a one-line error, never else.

A fixed-seed generator damages one attribute family at a time in small synthetic series (``pet_factory``,
``dicom_factory``): rescale slope/intercept, bit depth, pixel spacing, slice position and orientation,
rows/columns, radionuclide and half-life, dose, times, units, decay correction, patient weight, CT header
numbers and non-finite pixel values. Every mutant goes through ``standardseg inspect`` and ``standardseg
measure`` in-process (``cli.main`` with ``--debug`` so a ``StandardSegError`` reaches the test). The expected
numbers are the unmutated series' own output, itself checked against the stored values x slope + intercept
and the SUV formula evaluated here. A mutant passes when

- the numbers (statistics in the mask, SUVpeak, SUV factors, grid) equal the unmutated ones (rtol 1e-5), or
- the command raises a ``StandardSegError`` whose message is one line;

any other exception, a different number or non-standard JSON (NaN) fails. Values a header cannot reveal as
wrong (a plausible but different weight, Units swapped for another valid unit) are not generated: no reader
can detect them. Values the loader writes in place of the mutated ones are set byte-exact (``_RawPatch``),
bypassing pydicom's validation on writing, because that is what a damaged file contains.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import functools
import io
import json
import math
import random
import struct
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.tag import Tag

import dicom_factory
import pet_factory
from StandardSegLib.cli import build_parser
from StandardSegLib.errors import StandardSegError

SEED = 20261130
PET_MUTANTS = 200
CT_MUTANTS = 100
RTOL = 1e-5
#: Series shape (rows, columns, slices) and the mask box (z, y, x slices) inside it.
SHAPE = (10, 12, 6)
MASK_BOX = (slice(1, 5), slice(3, 8), slice(3, 9))
F18_HALF_LIFE_S = 6586.2
FRAME_DURATION_S = 300.0
#: T_ave of a 300 s F-18 frame (SUV manual): writing it as FrameReferenceTime makes the back-computed
#: reference time (option B) equal AcquisitionTime, so a SeriesTime moved later must not change SUV.
_LAMBDA = math.log(2.0) / F18_HALF_LIFE_S
T_AVE_S = math.log(_LAMBDA * FRAME_DURATION_S / -math.expm1(-_LAMBDA * FRAME_DURATION_S)) / _LAMBDA


# --- byte-exact values ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class _RawPatch:
    """Replace the element written with ``placeholder`` (VR LO) by ``vr`` + ``payload`` in the saved file."""

    tag: int
    placeholder: bytes
    vr: str
    payload: bytes

    def apply(self, data: bytes) -> bytes:
        tag = Tag(self.tag)
        head = struct.pack("<HH", tag.group, tag.element)
        old = head + b"LO" + struct.pack("<H", len(self.placeholder)) + self.placeholder
        new = head + self.vr.encode() + struct.pack("<H", len(self.payload)) + self.payload
        assert data.count(old) == 1, f"placeholder for {tag} not found once"
        return data.replace(old, new)


@dataclass
class _Mutant:
    """One mutated series: the unmutated slices (spatial order) and their files' bytes, copies of the slices
    a mutation edits, and the raw patches to apply to those after saving."""

    base: list[pydicom.Dataset]
    files: list[bytes]
    rng: random.Random
    edited: dict[int, pydicom.Dataset] = field(default_factory=dict)
    patches: dict[int, list[_RawPatch]] = field(default_factory=lambda: defaultdict(list))
    removed_slices: tuple[int, ...] = ()

    def targets(self) -> list[int]:
        """One random slice, or all of them."""
        n = len(self.base)
        return list(range(n)) if self.rng.random() < 0.5 else [self.rng.randrange(n)]

    def edit(self, index: int) -> pydicom.Dataset:
        """Slice ``index`` to change (copied on first use; the unmutated series is shared by all mutants)."""
        if index not in self.edited:  # parsing the bytes again is cheaper than a deep copy
            self.edited[index] = pydicom.dcmread(io.BytesIO(self.files[index]))
        return self.edited[index]

    def raw(self, index: int, keyword: str, vr: str, payload: str | bytes, *, item: bool = False) -> None:
        """Give slice ``index``'s ``keyword`` (or its radiopharmaceutical item's) the bytes ``payload``."""
        data = payload.encode("latin-1") if isinstance(payload, str) else payload
        if isinstance(payload, str) and len(data) % 2:
            data += b" "
        number = sum(len(p) for p in self.patches.values())
        placeholder = f"PLACEHOLDER{number:05d}".encode().ljust(max(16, len(data)), b"X")
        target = self.edit(index).RadiopharmaceuticalInformationSequence[0] if item else self.edit(index)
        tag = tag_for_keyword(keyword)
        target[tag] = DataElement(tag, "LO", placeholder.decode())
        self.patches[index].append(_RawPatch(tag, placeholder, vr, data))

    def set(self, index: int, keyword: str, value: object, *, item: bool = False) -> None:
        target = self.edit(index).RadiopharmaceuticalInformationSequence[0] if item else self.edit(index)
        if value is None:
            if keyword in target:
                delattr(target, keyword)
        else:
            setattr(target, keyword, value)


def _save(mutant: _Mutant, directory: Path) -> None:
    directory.mkdir(parents=True)
    for index, original in enumerate(mutant.files):
        path = directory / f"slice_{index:03d}.dcm"
        dataset = mutant.edited.get(index)
        if index in mutant.removed_slices:
            continue
        if dataset is None:
            path.write_bytes(original)
            continue
        for element in dataset.iterall():
            if element.VR == "SQ":  # undefined lengths: a patched value inside may change its length
                element.is_undefined_length = True
                for sequence_item in element.value:
                    sequence_item.is_undefined_length_sequence_item = True
        buffer = io.BytesIO()
        dataset.save_as(buffer, enforce_file_format=True)
        data = buffer.getvalue()
        for patch in mutant.patches.get(index, ()):
            data = patch.apply(data)
        path.write_bytes(data)


# --- mutations: (family, name, function(mutant)) ------------------------------------------------------

Mutation = tuple[str, str, Callable[[_Mutant], None]]


def _text_values(family: str, keyword: str, vr: str, values: list[str], *, item: bool = False) -> list[Mutation]:
    def make(text: str) -> Callable[[_Mutant], None]:
        def mutate(m: _Mutant) -> None:
            for k in m.targets():
                m.raw(k, keyword, vr, text, item=item)
        return mutate
    return [(family, f"{keyword}={text!r}", make(text)) for text in values]


def _deleted(family: str, *keywords: str, item: bool = False) -> Mutation:
    def mutate(m: _Mutant) -> None:
        for k in m.targets():
            for keyword in keywords:
                m.set(k, keyword, None, item=item)
    return family, f"delete {'+'.join(keywords)}", mutate


def _wrong_vr(family: str, keyword: str, vr: str, payload: bytes, *, item: bool = False) -> Mutation:
    def mutate(m: _Mutant) -> None:
        for k in m.targets():
            m.raw(k, keyword, vr, payload, item=item)
    return family, f"{keyword} as VR {vr} {payload.hex()}", mutate


def _values(family: str, keyword: str, values: list[object], *, item: bool = False) -> list[Mutation]:
    def make(value: object) -> Callable[[_Mutant], None]:
        def mutate(m: _Mutant) -> None:
            for k in m.targets():
                m.set(k, keyword, copy.deepcopy(value), item=item)
        return mutate
    return [(family, f"{keyword}={value!r}", make(value)) for value in values]


def _bits(stored: int, high: int) -> Mutation:
    def mutate(m: _Mutant) -> None:
        for k in m.targets():
            m.set(k, "BitsStored", stored)
            m.set(k, "HighBit", high)
    return "bits", f"BitsStored {stored} HighBit {high}", mutate


def _position(name: str, change: Callable[[_Mutant, int], object]) -> Mutation:
    def mutate(m: _Mutant) -> None:
        k = m.rng.randrange(len(m.base))
        value = change(m, k)
        if isinstance(value, str):
            m.raw(k, "ImagePositionPatient", "DS", value)
        else:
            m.set(k, "ImagePositionPatient", value)
    return "position", name, mutate


def _rows_columns(keyword: str, delta: int) -> Mutation:
    def mutate(m: _Mutant) -> None:
        for k in m.targets():
            m.set(k, keyword, max(0, int(getattr(m.base[k], keyword)) + delta))
    return "rows/columns", f"{keyword} {delta:+d}", mutate


def _float_pixels(where: str) -> Mutation:
    """Float Pixel Data (7FE0,0008) with one NaN or inf voxel inside or outside the mask."""
    def mutate(m: _Mutant) -> None:
        inside = where == "inside"
        k = m.rng.randrange(MASK_BOX[0].start, MASK_BOX[0].stop) if inside else 0
        for index in range(len(m.base)):
            dataset = m.edit(index)
            values = dataset.pixel_array.astype(np.float32) * float(dataset.RescaleSlope)
            values += float(dataset.RescaleIntercept)
            if index == k:
                values[(5, 5) if inside else (0, 0)] = m.rng.choice([np.nan, np.inf, -np.inf])
            for keyword in ("PixelData", "BitsStored", "HighBit", "PixelRepresentation"):
                m.set(index, keyword, None)
            dataset.RescaleSlope, dataset.RescaleIntercept = "1", "0"
            dataset.BitsAllocated = 32
            dataset.FloatPixelData = values.tobytes()
    return "non-finite pixels", f"float pixel data with a non-finite voxel {where} the mask", mutate


def _time_after_scan(m: _Mutant) -> None:
    injected = m.rng.choice(["113000", "120000", "235900"])
    for k in range(len(m.base)):
        m.set(k, "RadiopharmaceuticalStartDateTime", None, item=True)
        m.set(k, "RadiopharmaceuticalStartTime", injected, item=True)


def _admin_injected_after_scan(m: _Mutant) -> None:
    injected = m.rng.choice(["20250101120000", "20250102100000"])
    for k in range(len(m.base)):
        m.set(k, "DecayCorrection", "ADMIN")
        m.set(k, "RadiopharmaceuticalStartDateTime", injected, item=True)


def _series_time_later(m: _Mutant) -> None:
    for k in range(len(m.base)):
        m.set(k, "SeriesTime", "120000")


def _radionuclide_code(code_value: str, meaning: str) -> Mutation:
    def mutate(m: _Mutant) -> None:
        for k in range(len(m.base)):
            code = m.edit(k).RadiopharmaceuticalInformationSequence[0].RadionuclideCodeSequence[0]
            code.CodeValue, code.CodeMeaning = code_value, meaning
    return "radionuclide/half-life", f"RadionuclideCodeSequence {meaning}", mutate


def _code_deleted(m: _Mutant) -> None:
    for k in range(len(m.base)):
        m.set(k, "RadionuclideCodeSequence", None, item=True)


def _half_life_from_code(m: _Mutant) -> None:
    for k in range(len(m.base)):
        m.set(k, "RadionuclideHalfLife", None, item=True)


def _one_slice_weight(m: _Mutant) -> None:
    m.raw(m.rng.randrange(len(m.base)), "PatientWeight", "DS", "71")


def _remove_middle_slice(m: _Mutant) -> None:
    m.removed_slices = (len(m.base) // 2,)


SHARED: list[Mutation] = [
    _deleted("rescale", "RescaleSlope"),
    _deleted("rescale", "RescaleIntercept"),
    _deleted("rescale", "RescaleSlope", "RescaleIntercept"),
    *_text_values("rescale", "RescaleSlope", "DS", ["-1", "0", "-0.5", "nan", "inf", "-inf", "70\\80", "", "abc",
                                                    "1e400", "0\\1"]),
    *_text_values("rescale", "RescaleIntercept", "DS", ["nan", "inf", "", "abc", "1\\2"]),
    _wrong_vr("rescale", "RescaleSlope", "UL", struct.pack("<I", 1048592)),
    _wrong_vr("rescale", "RescaleSlope", "US", struct.pack("<H", 16)),
    _wrong_vr("rescale", "RescaleSlope", "FD", struct.pack("<d", 1.0)),
    _bits(7, 15), _bits(12, 15), _bits(12, 11), _bits(8, 7), _bits(0, 15), _bits(17, 16), _bits(16, 14),
    _bits(15, 14),
    *_values("bits", "BitsAllocated", [8, 32]),
    *_values("bits", "PixelRepresentation", [0, 1, 2]),
    *_values("bits", "SamplesPerPixel", [3]),
    *_values("bits", "NumberOfFrames", ["2"]),
    *_text_values("spacing", "PixelSpacing", "DS", ["-1\\4", "0\\4", "4\\0", "nan\\4", "inf\\4", "4", "", "a\\b",
                                                    "4\\4\\4", "-4\\-4"]),
    *_text_values("spacing", "SliceThickness", "DS", ["nan", "-4", "0", "abc", "inf"]),
    *_text_values("spacing", "SpacingBetweenSlices", "DS", ["nan", "-4", "0", "inf"]),
    _position("NaN ImagePositionPatient", lambda m, k: "0\\nan\\4"),
    _position("inf ImagePositionPatient", lambda m, k: "inf\\0\\4"),
    _position("two-valued ImagePositionPatient", lambda m, k: "0\\0"),
    _position("text ImagePositionPatient", lambda m, k: "a\\b\\c"),
    _position("duplicate ImagePositionPatient",
              lambda m, k: list(m.base[k - 1 if k else 1].ImagePositionPatient)),
    _position("lateral shift 5 mm",
              lambda m, k: [float(m.base[k].ImagePositionPatient[0]) + 5.0,
                            *m.base[k].ImagePositionPatient[1:]]),
    _position("half-slice shift",
              lambda m, k: [*m.base[k].ImagePositionPatient[:2],
                            float(m.base[k].ImagePositionPatient[2]) + 1.3]),
    _deleted("position", "ImagePositionPatient"),
    ("position", "middle slice missing", _remove_middle_slice),
    *_text_values("orientation", "ImageOrientationPatient", "DS",
                  ["nan\\0\\0\\0\\1\\0", "0\\0\\0\\0\\0\\0", "2\\0\\0\\0\\1\\0", "1\\0\\0\\1\\0\\0",
                   "1\\0\\0\\0\\1", "inf\\0\\0\\0\\1\\0", "a\\b\\c\\d\\e\\f"]),
    _deleted("orientation", "ImageOrientationPatient"),
    _rows_columns("Rows", 1), _rows_columns("Rows", -1), _rows_columns("Rows", 10), _rows_columns("Rows", -100),
    _rows_columns("Columns", 1), _rows_columns("Columns", -1), _rows_columns("Columns", 12),
    _float_pixels("inside"), _float_pixels("outside"),
]

PET_ONLY: list[Mutation] = [
    *_text_values("rescale", "RescaleIntercept", "DS", ["5", "-3"]),
    *_text_values("radionuclide/half-life", "RadionuclideHalfLife", "DS",
                  ["1e308", "1223", "0", "-6586.2", "nan", "inf", "abc", "", "6586.2\\6586.2", "4062.6", "109.77"],
                  item=True),
    ("radionuclide/half-life", "RadionuclideHalfLife deleted (from the F-18 code)", _half_life_from_code),
    ("radionuclide/half-life", "RadionuclideCodeSequence deleted", _code_deleted),
    _radionuclide_code("C-105A1", "^11^Carbon"),
    _radionuclide_code("C-131A3", "^68^Gallium"),
    _radionuclide_code("X-999", "unknown nuclide"),
    *_text_values("dose", "RadionuclideTotalDose", "DS",
                  ["nan", "inf", "-370000000", "0", "", "abc", "1e308", "0.001", "370\\400", "3.7e14", "0.37",
                   "370", "370000000.0"], item=True),
    _wrong_vr("dose", "RadionuclideTotalDose", "US", struct.pack("<H", 29824), item=True),
    _wrong_vr("dose", "RadionuclideTotalDose", "UL", struct.pack("<I", 370000000), item=True),
    _wrong_vr("dose", "RadionuclideTotalDose", "FD", struct.pack("<d", 370e6), item=True),
    ("times", "time-only injection after the scan", _time_after_scan),
    ("times", "SeriesTime after AcquisitionTime", _series_time_later),
    _deleted("times", "RadiopharmaceuticalStartDateTime", item=True),
    _deleted("times", "RadiopharmaceuticalStartDateTime", "RadiopharmaceuticalStartTime", item=True),
    *_text_values("times", "RadiopharmaceuticalStartDateTime", "DT",
                  ["20250101120000", "20250102100000", "abc", "20251301100000"], item=True),
    *_text_values("times", "RadiopharmaceuticalStartTime", "TM", ["abc", "256100"], item=True),
    _deleted("times", "AcquisitionTime"),
    _deleted("times", "SeriesTime"),
    *_text_values("times", "AcquisitionTime", "TM", ["abc", "999999"]),
    *_text_values("times", "SeriesTime", "TM", ["abc"]),
    *_text_values("times", "FrameReferenceTime", "DS", ["nan", "inf", "abc"]),
    *_text_values("times", "ActualFrameDuration", "IS", ["inf", "-300000", "abc"]),
    _deleted("units", "Units"),
    *_text_values("units", "Units", "CS", ["", "XYZ", "PROPCPS", "CNTS", "CPS", "1CM", "bqml"]),
    *_text_values("units", "SUVType", "CS", ["LBM", "XYZ"]),
    _deleted("decay correction", "DecayCorrection"),
    *_text_values("decay correction", "DecayCorrection", "CS", ["", "XYZ", "start", "NONE"]),
    ("decay correction", "ADMIN with injection after the scan", _admin_injected_after_scan),
    *_values("decay correction", "CorrectedImage", [["ATTN"], ["NORM", "ATTN", "SCAT"]]),
    _deleted("weight", "PatientWeight"),
    *_text_values("weight", "PatientWeight", "DS", ["0", "-70", "nan", "inf", "abc", "", "70000", "70\\80", "1e308",
                                                    "0.0001"]),
    ("weight", "PatientWeight 71 in one slice", _one_slice_weight),
    _wrong_vr("weight", "PatientWeight", "US", struct.pack("<H", 70)),
    *_values("modality", "Modality", ["CT", "MR"]),
]

CT_ONLY: list[Mutation] = [
    *_text_values("CT header numbers", "XRayTubeCurrent", "IS", ["inf", "nan", "1e400", "abc", "-5"]),
    *_text_values("CT header numbers", "Exposure", "IS", ["inf", "abc"]),
    *_text_values("CT header numbers", "KVP", "DS", ["nan", "inf", "abc"]),
    _wrong_vr("CT header numbers", "CTDIvol", "FD", struct.pack("<d", float("nan"))),
    _wrong_vr("rescale", "RescaleIntercept", "SS", struct.pack("<h", -1024)),
    *_values("modality", "Modality", ["MR", "PT"]),
]


# --- the unmutated series -------------------------------------------------------------------------------

def _stored(rng: np.random.Generator) -> np.ndarray:
    """Stored values 0..3000 with a hot block in the mask: the bit-depth mutations change some of them."""
    rows, columns, slices = SHAPE
    values = rng.integers(0, 1200, size=(slices, rows, columns))
    values[MASK_BOX] += 1800
    return values.astype(np.int16)


def _pet_baseline(directory: Path, rng: np.random.Generator) -> list[Path]:
    rows, columns, slices = SHAPE
    slopes = [f"{0.5 + 0.25 * k:g}" for k in range(slices)]
    headers = pet_factory.pet_series(slices, per_slice={"RescaleSlope": slopes},
                                     FrameReferenceTime=f"{T_AVE_S * 1000.0:.3f}",
                                     ActualFrameDuration=str(int(FRAME_DURATION_S * 1000)))
    return pet_factory.write_series(headers, _stored(rng), directory)


def _ct_baseline(directory: Path, rng: np.random.Generator) -> list[Path]:
    series = dicom_factory.write_series(directory, modality="CT", shape=SHAPE, stored=_stored(rng),
                                        pixel_spacing_mm=(0.8, 0.7), slice_spacing_mm=2.5, intercept=-1024.0,
                                        header={"KVP": 120, "XRayTubeCurrent": 200, "Exposure": 100,
                                                "CTDIvol": 8.5})
    return list(series.files)


def _read(files: list[Path]) -> list[pydicom.Dataset]:
    """The slices, every element decoded (so copies of them need no decoding again)."""
    datasets = [pydicom.dcmread(path) for path in files]
    for dataset in datasets:
        for _ in dataset.iterall():
            pass
    return datasets


def _mask(reference_dir: Path, path: Path) -> None:
    """The mask box on the unmutated series' grid (a NRRD carrying the geometry, as users pass masks)."""
    from StandardSegLib.imaging import load_image

    image = load_image(reference_dir).image
    array = np.zeros(sitk.GetArrayViewFromImage(image).shape, dtype=np.uint8)
    array[MASK_BOX] = 1
    mask = sitk.GetImageFromArray(array)
    mask.CopyInformation(image)
    sitk.WriteImage(mask, str(path))


# --- running the commands -------------------------------------------------------------------------------

MEASURE_KEYS = ("voxel_count", "volume_ml", "min", "max", "mean", "median", "sd", "p95", "suv_peak")
#: inspect reads no pixel data: its matrix is Rows/Columns as written (measure checks them against the pixels).
INSPECT_KEYS = ("spacing", "origin", "direction", "pixel_spacing_mm")


class _NotStandardJson(Exception):
    pass


def _reject_constant(name: str) -> float:
    raise _NotStandardJson(f"{name} in JSON output")


@functools.lru_cache(maxsize=1)
def _parser() -> argparse.ArgumentParser:
    return build_parser()


def _command(argv: list[str]) -> tuple[str, object]:
    """("ok", parsed JSON) or ("error", message) or ("crash", description): ``standardseg --debug ARGV`` as
    ``cli.main`` runs it, with the parser built once."""
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            args = _parser().parse_args(["--debug", *argv])
            code = int(args.func(args) or 0)
        if code != 0:
            return "crash", f"exit {code} without an error"
        return "ok", json.loads(out.getvalue(), parse_constant=_reject_constant)
    except StandardSegError as error:
        return "error", str(error)
    except Exception as error:  # noqa: BLE001 - any other exception is what the fuzz looks for
        return "crash", f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"


def _numbers(document: dict, keys: tuple[str, ...]) -> dict[str, object]:
    found = {key: document.get(key) for key in keys}
    suv = document.get("suv")
    if isinstance(suv, dict) and suv.get("available"):
        found["suv_factors"] = suv["factors"]
    if "suv_conversion" in document:
        found["suv_factors"] = document["suv_conversion"]["factors"]
    return found


def _same(a: object, b: object) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            # one factor per slice or one for the series: compare as constant vs per-slice
            return (len(a) == 1 or len(b) == 1) and all(_same(x, y) for x in a for y in b)
        return all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=RTOL, abs_tol=1e-9)
    return a == b


def _outcome(directory: Path, mask: Path, units: str, expected: dict[str, dict]) -> tuple[str, str]:
    """The worst outcome over inspect and measure, and a description."""
    runs = {"inspect": (["inspect", str(directory), "--json"], INSPECT_KEYS),
            "measure": (["measure", str(directory), "--mask", str(mask), "--units", units, "--json"], MEASURE_KEYS)}
    outcomes = []
    for name, (argv, keys) in runs.items():
        kind, value = _command(argv)
        if kind == "crash":
            outcomes.append(("traceback", f"{name}: {value}"))
        elif kind == "error":
            outcomes.append(("multi-line error", f"{name}: {value!r}") if "\n" in str(value)
                            else ("refused", f"{name}: {value}"))
        else:
            numbers = _numbers(value, keys)
            wrong = {key: (numbers.get(key), expected[name].get(key)) for key in set(numbers) | set(expected[name])
                     if key in numbers and not _same(numbers.get(key), expected[name].get(key))}
            if name == "measure" and "suv_factors" in expected[name] and "suv_factors" not in numbers:
                wrong["suv_factors"] = ("missing", "present")
            outcomes.append(("wrong number", f"{name}: {wrong}") if wrong else ("same", name))
    order = ["traceback", "wrong number", "multi-line error", "refused", "same"]
    return min(outcomes, key=lambda item: order.index(item[0]))


def _expected(directory: Path, mask: Path, units: str) -> dict[str, dict]:
    expected = {}
    for name, argv, keys in (("inspect", ["inspect", str(directory), "--json"], INSPECT_KEYS),
                             ("measure", ["measure", str(directory), "--mask", str(mask), "--units", units, "--json"],
                              MEASURE_KEYS)):
        kind, value = _command(argv)
        assert kind == "ok", f"unmutated series: {name} gave {kind}: {value}"
        expected[name] = _numbers(value, keys)
    return expected


def _run_fuzz(tmp_path: Path, kind: str, count: int, catalogue: list[Mutation],
              rng: random.Random) -> tuple[Counter, list[str], dict]:
    base_dir = tmp_path / f"{kind}_base"
    values_rng = np.random.default_rng(SEED)
    files = (_pet_baseline if kind == "PT" else _ct_baseline)(base_dir, values_rng)
    datasets = _read(files)
    contents = [path.read_bytes() for path in files]
    mask = tmp_path / f"{kind}_mask.nrrd"
    _mask(base_dir, mask)
    units = "SUVbw" if kind == "PT" else "raw"
    expected = _expected(base_dir, mask, units)
    counts: Counter = Counter()
    failures: list[str] = []
    order = [catalogue[k % len(catalogue)] for k in range(count)]  # every mutation at least once if count allows
    rng.shuffle(order)
    for number, (family, name, mutate) in enumerate(order):
        mutant = _Mutant(datasets, contents, random.Random(rng.random()))
        mutate(mutant)
        directory = tmp_path / f"{kind}_{number:03d}"
        _save(mutant, directory)
        outcome, detail = _outcome(directory, mask, units, expected)
        counts[(family, outcome)] += 1
        if outcome not in ("same", "refused"):
            failures.append(f"{kind} #{number} {family} / {name}: {outcome}: {detail}")
    return counts, failures, expected


def test_unmutated_numbers_are_right(tmp_path):
    """The fuzz's reference numbers themselves, against stored x slope + intercept and the SUV formula."""
    rng = np.random.default_rng(SEED)
    pet_dir, ct_dir = tmp_path / "pet", tmp_path / "ct"
    pet = _read(_pet_baseline(pet_dir, rng))
    ct = _read(_ct_baseline(ct_dir, rng))
    for directory, datasets, units in ((pet_dir, pet, "SUVbw"), (ct_dir, ct, "raw")):
        mask = tmp_path / f"{directory.name}_mask.nrrd"
        _mask(directory, mask)
        real = np.stack([ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept) for ds in datasets])
        if units == "SUVbw":
            decayed = 370e6 * 2.0 ** (-3600.0 / F18_HALF_LIFE_S)   # injection 10:00, reference 11:00
            real = real * 70000.0 / decayed
        inside = real[MASK_BOX]
        measured = _expected(directory, mask, units)["measure"]
        assert measured["voxel_count"] == inside.size
        assert measured["mean"] == pytest.approx(inside.mean(), rel=1e-6)
        assert measured["max"] == pytest.approx(inside.max(), rel=1e-6)
        assert measured["min"] == pytest.approx(inside.min(), rel=1e-6)


def test_mutated_headers_give_the_same_numbers_or_one_line_errors(tmp_path):
    rng = random.Random(SEED)
    totals: Counter = Counter()
    failures: list[str] = []
    for kind, count, catalogue in (("PT", PET_MUTANTS, SHARED + PET_ONLY), ("CT", CT_MUTANTS, SHARED + CT_ONLY)):
        counts, found, _ = _run_fuzz(tmp_path, kind, count, catalogue, rng)
        totals.update(counts)
        failures += found
    families = sorted({family for family, _ in totals})
    outcomes = ["same", "refused", "wrong number", "traceback", "multi-line error"]
    print("\nfamily".ljust(26) + "".join(outcome.rjust(18) for outcome in outcomes))
    for family in families:
        print(family.ljust(25) + "".join(str(totals[(family, outcome)]).rjust(18) for outcome in outcomes))
    assert sum(totals.values()) >= 300
    assert not failures, f"{len(failures)} mutants:\n" + "\n".join(failures)
