"""cohort.html: one self-contained page over a whole batch, for the core lab's first look at a cohort.

Sections: counts; failures with their reasons (failed cases and failed lesions of partial cases); gate
verdicts per case; plausibility flags; distributions of volumes, SUV and intensity and of every radiomics
feature (per measure and unit: n, quartiles, and a strip plot of the lesions); inter-case QC (modified
z-score outliers, ``cohort_qc``; scanner / reconstruction mix per site); the batch's provenance. It uses the
report's presentation helpers (``report.presentation``) so it reads like the lesion reports.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Hashable, Iterable, Mapping, Optional, Sequence

from StandardSegLib.batch.case_task import DONE, FAILED, PARTIAL, SKIPPED
from StandardSegLib.batch.cohort import CaseReport
from StandardSegLib.batch.cohort_qc import Outlier, modified_z_outliers, scanner_mix, summary
from StandardSegLib.report.presentation import (Markup, definition_list, details, escape, flag_list, format_number,
                                                html_page, table, unit_text, verdict_badge)

COHORT_HTML = "cohort.html"
#: Measures shown as strip plots and checked for outliers: (measure, factor to the shown unit, shown unit or
#: None for the measure's own unit). Volumes are shown in mL.
KEY_MEASURES = (("volume_voxels", 1e-3, "ml"), ("max_3d_diameter", 1.0, None), ("suv_max", 1.0, None),
                ("suv_peak", 1.0, None), ("suv_mean", 1.0, None), ("tlg_suv_ml", 1.0, None),
                ("intensity_mean", 1.0, None), ("reference_mean", 1.0, None))
#: Measures that belong to the case (the same on each of its lesions): one value per case.
CASE_MEASURES = ("reference_mean",)
_STYLE = "svg.strip{display:block}svg.strip circle{fill:#174f8c;fill-opacity:.6}svg.strip circle.out{fill:#c62828}"
_STATUS_ORDER = (DONE, PARTIAL, SKIPPED, FAILED)

Row = Sequence[Any]  # (case, site, lesion, measure, value, unit, flags)


def cohort_html(reports: Sequence[CaseReport], rows: Sequence[Row], provenance: Mapping[str, Any]) -> str:
    """The page for the batch's ``reports`` and ``rows`` (``cohort.cohort_rows``)."""
    series = _series(rows)
    outliers = {key: modified_z_outliers(values) for key, values in series.items()}
    lesions = sum(len(case.document["segments"]) for case in reports if case.document)
    body = [
        "<h1>StandardSeg cohort report</h1>",
        f'<p class="subtitle">{len(reports)} cases, {lesions} lesions; batch finished '
        f'{escape(provenance.get("finished_at"))}</p>',
        "<h2>Counts</h2>", _counts(reports, lesions),
        "<h2>Failures</h2>", _failures(reports),
        "<h2>Gate verdicts</h2>", _gates(reports),
        "<h2>Plausibility flags</h2>", _flags(reports),
        "<h2>Distributions</h2>", _distributions(series, outliers), _features(rows),
        "<h2>Inter-case QC</h2>", _outliers(outliers), _scanners(reports),
        "<h2>Provenance</h2>", _provenance(provenance),
    ]
    return html_page("StandardSeg cohort report", body, style=_STYLE)


def _counts(reports: Sequence[CaseReport], lesions: int) -> Markup:
    counts = {status: sum(case.result.status == status for case in reports) for status in _STATUS_ORDER}
    flagged = sum(bool(segment.get("flags")) for case in reports if case.document for segment in case.document["segments"])
    rows = [("cases", len(reports)), *((f"cases {status}", count) for status, count in counts.items()),
            ("lesions", lesions), ("lesions with flags", flagged)]
    note = Markup('<p class="muted">skipped = finished by an earlier run of this batch, with the same job, inputs, '
                  "protocol and software; partial = bundle written without the lesions listed under Failures.</p>")
    return Markup(table(("", "number"), rows, numeric=(1,), row_headers=True) + note)


def _failures(reports: Sequence[CaseReport]) -> Markup:
    rows = []
    for case in reports:
        if case.result.status == FAILED:
            rows.append((case.result.case_id, "whole case", case.result.reason, case.result.log or ""))
        for failure in (case.document or {}).get("failures", []):
            rows.append((case.result.case_id, f"lesion {failure.get('name')} ({failure.get('stage')})",
                         failure.get("reason"), case.result.log or ""))
    if not rows:
        return Markup("<p>None.</p>")
    return table(("case", "what failed", "reason", "log"), rows, row_classes=["fail"] * len(rows))


def _gates(reports: Sequence[CaseReport]) -> Markup:
    rows, classes = [], []
    for case in reports:
        if case.document is None:
            continue
        gate, protocol = case.document["gate"], case.document["protocol"]
        failing = [item["id"] for item in gate["items"] if item["verdict"] == "fail"]
        warning = [item["id"] for item in gate["items"] if item["verdict"] == "warn"]
        override = gate.get("override") or {}
        rows.append((case.result.case_id, f"{protocol['id']} {protocol['version']}", verdict_badge(gate["overall"]),
                     ", ".join(failing), ", ".join(warning), override.get("reason", "") if override else ""))
        classes.append(gate["overall"] if gate["overall"] in ("fail", "warn") else None)
    if not rows:
        return Markup("<p>No finished case.</p>")
    return table(("case", "protocol", "gate", "failed items", "warnings", "override"), rows, row_classes=classes)


def _flags(reports: Sequence[CaseReport]) -> Markup:
    rows = [(case.result.case_id, segment["name"], flag_list(segment["flags"]))
            for case in reports if case.document for segment in case.document["segments"] if segment.get("flags")]
    if not rows:
        return Markup("<p>No lesion carries a plausibility flag.</p>")
    return table(("case", "lesion", "flags"), rows, row_classes=["fail"] * len(rows))


def _series(rows: Iterable[Row]) -> dict[tuple[str, str], dict[tuple[str, ...], float]]:
    """(measure, shown unit) -> {(case, lesion) or (case,): value in the shown unit} for ``KEY_MEASURES``."""
    wanted = {measure: (factor, unit) for measure, factor, unit in KEY_MEASURES}
    series: dict[tuple[str, str], dict[tuple[str, ...], float]] = defaultdict(dict)
    for case, _site, lesion, measure, value, unit, _flags in rows:
        if measure not in wanted or value is None:
            continue
        factor, shown = wanted[measure]
        key = (case,) if measure in CASE_MEASURES else (case, lesion)
        series[(measure, shown or unit)][key] = float(value) * factor
    order = [measure for measure, _, _ in KEY_MEASURES]
    return dict(sorted(series.items(), key=lambda item: (order.index(item[0][0]), item[0][1])))


def _distributions(series: Mapping[tuple[str, str], Mapping[tuple[str, ...], float]],
                   outliers: Mapping[tuple[str, str], Sequence[Outlier]]) -> Markup:
    if not series:
        return Markup("<p>No measurements.</p>")
    rows = []
    for (measure, unit), values in series.items():
        stats = summary(list(values.values()))
        marked = {item.key for item in outliers[(measure, unit)]}
        rows.append((measure, unit_text(unit), stats["n"], *(format_number(stats[key], unit) for key in
                                                           ("min", "q1", "median", "q3", "max")),
                     _strip_plot(values, marked, unit)))
    header = ("measure", "unit", "n", "min", "Q1", "median", "Q3", "max", "lesions (red: outlier)")
    return table(header, rows, numeric=(2, 3, 4, 5, 6, 7), caption="Key measures, per lesion "
                 "(reference_mean: per case)")


def _features(rows: Iterable[Row]) -> Markup:
    """Every radiomics feature's n and quartiles (feature rows are those with an empty unit)."""
    values: dict[str, list[float]] = defaultdict(list)
    for _case, _site, _lesion, measure, value, unit, _flags in rows:
        if unit == "" and value is not None:
            values[measure].append(float(value))
    if not values:
        return Markup("<p>No radiomics features.</p>")
    table_rows = []
    for feature, data in sorted(values.items()):
        stats = summary(data)
        table_rows.append((feature, stats["n"], *(format_number(stats[key]) for key in ("min", "q1", "median", "q3",
                                                                                       "max"))))
    body = table(("feature", "n", "min", "Q1", "median", "Q3", "max"), table_rows, numeric=(1, 2, 3, 4, 5, 6))
    return details(f"Radiomics features ({len(values)}): distributions", body)


def _outliers(outliers: Mapping[tuple[str, str], Sequence[Outlier]]) -> Markup:
    rows = [(" / ".join(item.key), measure, format_number(item.value, unit), format_number(item.median, unit),
             unit_text(unit), f"{item.modified_z:+.1f}")
            for (measure, unit), found in outliers.items() for item in found]
    intro = Markup('<p class="muted">Modified z-score M = 0.6745 (x − median) / MAD over the cohort, per measure and '
                   "unit; |M| &gt; 3.5 is listed (Iglewicz &amp; Hoaglin 1993). Needs at least 5 values.</p>")
    if not rows:
        return Markup(intro + "<p>No outlier.</p>")
    return Markup(intro + table(("case / lesion", "measure", "value", "cohort median", "unit", "M"), rows,
                                numeric=(2, 3, 5), row_classes=["warn"] * len(rows)))


def _scanners(reports: Sequence[CaseReport]) -> Markup:
    rows = scanner_mix([(case.site, case.document["image"]) for case in reports if case.document])
    if not rows:
        return Markup("")
    return table(("site", "modality", "scanner", "reconstruction", "voxel (mm)", "cases"), rows, numeric=(5,),
                 caption="Scanner and reconstruction mix per site")


def _provenance(provenance: Mapping[str, Any]) -> Markup:
    software = provenance.get("software", {})
    cluster = provenance.get("cluster", {})
    return definition_list([
        ("manifest", f"{provenance.get('manifest', {}).get('path')} (sha256 "
                     f"{str(provenance.get('manifest', {}).get('sha256'))[:12]}...)"),
        ("started", provenance.get("started_at")), ("finished", provenance.get("finished_at")),
        ("cluster", ", ".join(f"{key} {value}" for key, value in cluster.items())),
        ("software", ", ".join(f"{name} {version}" for name, version in software.items() if version)),
        ("details", "batch.json"),
    ])


def _strip_plot(values: Mapping[tuple[str, ...], float], marked: set[Hashable], unit: Optional[str],
                width: int = 320, height: int = 44) -> Markup:
    """Inline SVG: one dot per lesion on a linear axis from min to max, outliers red; hover shows case/lesion."""
    if not values:
        return Markup("")
    low, high = min(values.values()), max(values.values())
    span = (high - low) or 1.0
    margin = 6
    dots = []
    for number, (key, value) in enumerate(sorted(values.items(), key=lambda item: item[1])):
        x = margin + (value - low) / span * (width - 2 * margin)
        y = 10 + (number % 5) * 5  # a little vertical offset so equal values stay visible
        title = f"{' / '.join(key)}: {format_number(value, unit)} {unit_text(unit)}".strip()
        css = ' class="out"' if key in marked else ""
        dots.append(f'<circle cx="{x:.1f}" cy="{y}" r="3"{css}><title>{escape(title)}</title></circle>')
    axis = (f'<line x1="{margin}" y1="36" x2="{width - margin}" y2="36" stroke="#888"/>'
            f'<text x="{margin}" y="44" font-size="9">{escape(format_number(low, unit))}</text>'
            f'<text x="{width - margin}" y="44" font-size="9" text-anchor="end">{escape(format_number(high, unit))}'
            "</text>")
    return Markup(f'<svg class="strip" width="{width}" height="{height}" role="img" aria-label="values per lesion">'
                  f'{"".join(dots)}{axis}</svg>')
