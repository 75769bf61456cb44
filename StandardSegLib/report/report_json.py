"""report.json: the machine-readable report, validated against Resources/Schemas/report.schema.json.

The document states what the ESR/EORTC consensus (deSouza 2022) asks a quantitative report to carry: the
protocol (id, version, content hash), every gate item with any override, the window preset applied, the
acquisition and reconstruction record, the operator and their training status, per-segment provenance and
measurements (voxel counts, volumes, diameters, SUV, MTV, TLG, reference ratios) and radiomics (features,
settings, IBSI names and pyradiomics' known IBSI deviations), SHA-256 of every input file, software versions
and timestamps.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import platform
from pathlib import Path
from typing import Any, Mapping, Optional

from StandardSegLib import __version__
from StandardSegLib.errors import StandardSegError
from StandardSegLib.files import sha256_of
from StandardSegLib.jsonable import to_jsonable
from StandardSegLib.report.deidentify import Deidentifier, pseudonymous_path
from StandardSegLib.report.inputs import ReportInputs
from StandardSegLib.schema_check import first_schema_problem

SCHEMA_ID = "standardseg.report/1"
SCHEMA_FILE = "report.schema.json"
#: Distributions whose versions the report records (slicer-core only if installed; never imported).
_DISTRIBUTIONS = ("slicer-core", "pyradiomics", "SimpleITK", "numpy", "pydicom", "highdicom", "rt-utils",
                  "jsonschema")


class ReportSchemaError(StandardSegError):
    """A report document does not match report.schema.json (a bug: the report is not written)."""


def software_versions(*extra: str) -> dict[str, Optional[str]]:
    """Versions of the software behind the numbers (and of the ``extra`` distributions a caller also used);
    ``None`` for a distribution that is not installed."""
    versions: dict[str, Optional[str]] = {"standardseg": __version__, "python": platform.python_version()}
    for name in (*_DISTRIBUTIONS, *extra):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def build_report(inputs: ReportInputs, *, outputs: tuple[str, ...] = (),
                 not_written: tuple[Mapping[str, str], ...] = (),
                 deidentifier: Optional[Deidentifier] = None,
                 finished_at: Optional[dt.datetime] = None,
                 header_warnings: tuple[str, ...] = ()) -> dict[str, Any]:
    """The report document (plain JSON values), de-identified when ``deidentifier`` is given, validated.

    ``not_written`` lists bundle files left out, each ``{"file": relative path, "reason": one line}``;
    ``header_warnings`` (source header values the DICOM outputs did not copy) join the image's warnings."""
    finished = finished_at or dt.datetime.now().astimezone()
    protocol = inputs.protocol
    preset = (protocol.window_presets[inputs.window_preset_organ] if inputs.window_preset_organ
              else protocol.default_window_preset)
    window, level = preset.to_intensity_window(_values(inputs))
    document = {
        "schema": SCHEMA_ID,
        "deidentified": deidentifier is not None,
        "timestamps": {"started_at": inputs.started_at.isoformat(), "finished_at": finished.isoformat()},
        "protocol": {"id": protocol.id, "title": protocol.title, "version": protocol.version,
                     "sha256": protocol.content_sha256},
        "gate": inputs.gate.to_dict(),
        "window_preset": {"organ": preset.organ, "unit": preset.unit, "window": window, "level": level,
                          "lower": level - window / 2.0, "upper": level + window / 2.0, "source": preset.source,
                          "deviations": [dict(deviation) for deviation in inputs.window_deviations]},
        "image": _image(inputs, header_warnings),
        "operator": _operator(inputs),
        "segments": [_segment(number, lesion) for number, lesion in enumerate(inputs.lesions, start=1)],
        "inputs": _inputs(inputs, deidentified=deidentifier is not None),
        "software": software_versions(),
        "outputs": sorted(outputs),
        "not_written": [dict(item) for item in not_written],
        "failures": [dict(item) for item in inputs.failures],
        "context": dict(inputs.context),
    }
    document = to_jsonable(document)
    if deidentifier is not None:
        document = deidentifier.document(document)
    validate_report(document)
    return document


def report_text(document: dict[str, Any]) -> str:
    """The document as written to report.json (validated again: every write is checked)."""
    validate_report(document)
    return json.dumps(document, indent=2, allow_nan=False) + "\n"


def validate_report(document: Any) -> None:
    """Raise ``ReportSchemaError`` naming the first offending field if ``document`` breaks the schema."""
    problem = first_schema_problem(document, SCHEMA_FILE)
    if problem:
        raise ReportSchemaError(f"report.json {problem} (schema {SCHEMA_ID})")


def _inputs(inputs: ReportInputs, deidentified: bool) -> list[dict[str, str]]:
    """Path and SHA-256 of each input; de-identified, the path is a pseudonym (``pseudonymous_path``)."""
    hashes = {name: inputs.input_sha256.get(name) or sha256_of(path) for name, path in inputs.input_files.items()}
    items = [{"path": pseudonymous_path(digest) if deidentified else name, "sha256": digest}
             for name, digest in hashes.items()]
    return sorted(items, key=lambda item: item["path"])


def _image(inputs: ReportInputs, header_warnings: tuple[str, ...]) -> dict[str, Any]:
    record = inputs.loaded.record.to_dict()
    record["warnings"] = [*record["warnings"], *header_warnings]
    return record


def _values(inputs: ReportInputs) -> Any:
    import SimpleITK as sitk

    return sitk.GetArrayViewFromImage(inputs.values_image)


def _operator(inputs: ReportInputs) -> Optional[dict[str, Any]]:
    if inputs.operator is None:
        return None
    operator = inputs.operator
    return {"name": operator.name, "role": operator.role, "trained_on": operator.trained_on.isoformat(),
            "training": inputs.training.to_dict() if inputs.training is not None else None}


def _segment(number: int, lesion: Any) -> dict[str, Any]:
    provenance = lesion.segment.provenance
    return {"number": number, "name": lesion.name, "provenance": provenance.to_dict(),
            "flags": [flag.to_dict() for flag in provenance.flags],
            "measurements": lesion.measurements.to_dict(),
            "reference_ratios": lesion.reference_ratios.to_dict() if lesion.reference_ratios else None,
            "radiomics": lesion.radiomics.to_dict() if lesion.radiomics is not None else None}
