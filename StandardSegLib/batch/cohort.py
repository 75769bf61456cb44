"""The cohort table: every case's report.json gathered into one tidy table, written as CSV and Parquet.

One row per case x lesion x measure with its unit (Wickham 2014, "Tidy data", J Stat Softw 59(10)): the
measurements of ``measurements.csv`` (``report.measurements_csv.measurement_rows``, so both state the same
numbers) plus each lesion's radiomics features, with the case id of the manifest, its site and the lesion's
plausibility flag codes. Radiomics features keep pyradiomics' names; pyradiomics states no unit per feature,
so their unit cell is empty. Values are full precision; a missing value is an empty cell / a Parquet null.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional, Sequence

from StandardSegLib.batch.case_task import CASES_DIR, FAILED, CaseResult
from StandardSegLib.report.bundle import REPORT_JSON
from StandardSegLib.report.measurements_csv import measurement_rows, segment_flags

COHORT_CSV, COHORT_PARQUET = "cohort.csv", "cohort.parquet"
HEADER = ("case", "site", "lesion", "measure", "value", "unit", "flags")
UNSPECIFIED_SITE = "unspecified"


@dataclass(frozen=True)
class CaseReport:
    """A case's result, its site and, when it has a bundle, that bundle's report.json document."""

    result: CaseResult
    site: str
    document: Optional[dict[str, Any]] = None


def load_case_reports(out_dir: Path, results: Sequence[CaseResult],
                      sites: Mapping[str, Optional[str]]) -> tuple[CaseReport, ...]:
    """Read each finished case's report.json (failed cases have none)."""
    reports = []
    for result in results:
        document = None
        if result.status != FAILED:
            path = out_dir / CASES_DIR / result.case_id / REPORT_JSON
            document = json.loads(path.read_text(encoding="utf-8"))
        reports.append(CaseReport(result, sites.get(result.case_id) or UNSPECIFIED_SITE, document))
    return tuple(reports)


def cohort_rows(reports: Sequence[CaseReport]) -> Iterator[tuple[str, str, str, str, Any, str, str]]:
    """Rows (case, site, lesion, measure, value, unit, flags) of every lesion of every finished case."""
    for case in reports:
        if case.document is None:
            continue
        segments = {segment["name"]: segment for segment in case.document["segments"]}
        flags = {name: segment_flags(segment) for name, segment in segments.items()}
        for _, lesion, measure, value, unit in measurement_rows(case.document):
            yield case.result.case_id, case.site, lesion, measure, value, unit, flags[lesion]
        for name, segment in segments.items():
            features = (segment.get("radiomics") or {}).get("features", {})
            for feature, value in features.items():
                yield case.result.case_id, case.site, name, feature, value, "", flags[name]


def cohort_csv(rows: Sequence[Sequence[Any]]) -> str:
    """CSV text (RFC 4180 quoting, "\\n" line ends); floats written with ``repr`` (round-trip exact)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    for row in rows:
        value = row[4]
        writer.writerow((*row[:4], "" if value is None else repr(value) if isinstance(value, float) else value,
                         *row[5:]))
    return buffer.getvalue()


def write_cohort_parquet(rows: Sequence[Sequence[Any]], path: Path) -> None:
    """The same table as Parquet (pyarrow), ``value`` as float64 with nulls for missing values."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = list(zip(*rows)) if rows else [()] * len(HEADER)
    arrays = [pa.array([None if value is None else float(value) for value in column], pa.float64())
              if name == "value" else pa.array(list(column), pa.string())
              for name, column in zip(HEADER, columns)]
    pq.write_table(pa.table(arrays, names=list(HEADER)), path)
