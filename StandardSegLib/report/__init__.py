"""The report bundle (issue 6): report.json, measurements.csv, report.html, segments, DICOM SEG and SR.

Public API:

- ``ReportInputs`` / ``LesionReport``: what a report states (``inputs``);
- ``write_report_bundle(inputs, target, *, overwrite, deidentify, salt, progress) -> BundleResult`` and
  ``write_atomically(target, fill, *, overwrite)`` (``bundle``);
- ``build_report(inputs, *, outputs, deidentifier)``, ``validate_report(document)``, ``software_versions()``
  (``report_json``); ``measurements_csv(document)``; ``report_html(document, inputs)``;
- ``build_seg`` / ``build_sr`` (``dicom_outputs``); ``Deidentifier`` (``deidentify``); ``encode_png`` (``png``).
"""

from StandardSegLib.report.bundle import BundleResult, write_atomically, write_report_bundle
from StandardSegLib.report.deidentify import Deidentifier
from StandardSegLib.report.inputs import LesionReport, ReportInputs
from StandardSegLib.report.report_json import SCHEMA_ID, build_report, software_versions, validate_report

__all__ = ["BundleResult", "Deidentifier", "LesionReport", "ReportInputs", "SCHEMA_ID", "build_report",
           "software_versions", "validate_report", "write_atomically", "write_report_bundle"]
