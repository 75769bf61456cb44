"""The comparison bundle: compare.json, compare.csv (tidy: one row per lesion pair x measure, then the
patient totals) and a self-contained compare.html, written atomically like every bundle
(``StandardSegLib.report.atomic_folder``: all or nothing, an existing folder never silently replaced).
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any, Mapping, Optional

from StandardSegLib.report.atomic_folder import write_text_files
from StandardSegLib.report.presentation import (Markup, definition_list, escape, format_number, html_page, raw_json,
                                                readable, table, unit_text, verdict_badge)

COMPARE_JSON, COMPARE_CSV, COMPARE_HTML = "compare.json", "compare.csv", "compare.html"
CSV_HEADER = ("baseline", "followup", "paired_by", "measure", "baseline_value", "followup_value", "change",
              "change_percent", "unit")


def write_compare_bundle(document: Mapping[str, Any], target: str | os.PathLike,
                         overwrite: bool = False) -> tuple[Path, Optional[Path]]:
    """Write the three files into the new folder ``target``; returns it and where a replaced one was kept."""
    target = Path(os.path.abspath(target))
    files = {COMPARE_JSON: json.dumps(document, indent=2, allow_nan=False) + "\n", COMPARE_CSV: compare_csv(document),
             COMPARE_HTML: compare_html(document)}
    return target, write_text_files(target, files, overwrite=overwrite)


def compare_csv(document: Mapping[str, Any]) -> str:
    stream = io.StringIO()
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for lesion in document["lesions"]:
        for measure, values in lesion["changes"].items():
            writer.writerow((lesion["baseline"], lesion["followup"], lesion["by"], measure, *_values(values)))
    for measure, values in document["patient"].items():
        if isinstance(values, Mapping):
            writer.writerow(("(patient)", "(patient)", "", measure, *_values(values)))
    return stream.getvalue()


def _values(values: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple("" if values[key] is None else values[key]
                 for key in ("baseline", "followup", "change", "change_percent")) + (values["unit"] or "",)


def compare_html(document: Mapping[str, Any]) -> str:
    comparability = document["comparability"]
    verdict = "fail" if comparability["blocked"] else "pass" if comparability["verdict"] == "comparable" else "warn"
    times = document["timepoints"]
    body = [
        "<h1>Longitudinal comparison</h1>",
        definition_list((("Baseline", times["baseline"]["source"]), ("Follow-up", times["followup"]["source"]),
                         ("Protocol", f"{document['protocol']['id']} {document['protocol']['version']}"))),
        f'<div class="verdict {verdict}"><p>{verdict_badge(verdict)} {escape(comparability["verdict"])}'
        f'{" (blocked)" if comparability["blocked"] else ""}</p>'
        + "".join(f"<p>{escape(text)}</p>" for text in (*comparability["differences"], *comparability["unchecked"]))
        + "</div>",
        "<h2>Response</h2>",
        table(("Criteria", "Category", "Basis"),
              [(name, result["category"], result["reason"] if result["assessable"] else "")
               for name, result in (("RECIST 1.1", document["recist"]), ("PERCIST 1.0", document["percist"]))],
              row_headers=True),
        "<h2>Must-match keys</h2>",
        table(("Key", "Baseline", "Follow-up", "Status"),
              [(item["key"], _shown(item["baseline"]), _shown(item["followup"]),
                item["status"] + (" (blocking)" if item["blocking"] else "")) for item in comparability["items"]],
              row_classes=[None if item["status"] == "match" else "fail" if item["blocking"] else "warn"
                           for item in comparability["items"]], row_headers=True),
        "<h2>Lesions</h2>",
        _pairing_text(document["pairing"]),
        *(_lesion_table(lesion) for lesion in document["lesions"]),
        "<h2>Patient</h2>",
        _change_table({key: value for key, value in document["patient"].items() if isinstance(value, Mapping)}),
        raw_json(document),
    ]
    return html_page("StandardSeg longitudinal comparison", body)


def _pairing_text(pairing: Mapping[str, Any]) -> Markup:
    parts = [f"Paired by name, else by nearest centre within {format_number(pairing['tolerance_mm'])} mm."]
    if pairing["baseline_only"]:
        parts.append(f"Baseline only (not found at follow-up): {', '.join(pairing['baseline_only'])}.")
    if pairing["followup_only"]:
        parts.append(f"New at follow-up: {', '.join(pairing['followup_only'])}.")
    return Markup(f"<p>{escape(' '.join(parts))}</p>")


def _lesion_table(lesion: Mapping[str, Any]) -> Markup:
    distance = lesion["distance_mm"]
    caption = (f"{lesion['baseline']} → {lesion['followup']} (by {lesion['by']}"
               + (f", centres {format_number(distance, 'mm')} mm apart)" if distance is not None else ")"))
    return _change_table(lesion["changes"], caption)


def _change_table(changes: Mapping[str, Mapping[str, Any]], caption: Optional[str] = None) -> Markup:
    rows = [(measure, *(format_number(values[key], values["unit"]) for key in ("baseline", "followup", "change")),
             format_number(values["change_percent"], "%"), unit_text(values["unit"]))
            for measure, values in changes.items()]
    return table(("Measure", "Baseline", "Follow-up", "Change", "Change %", "Unit"), rows, caption=caption,
                 row_headers=True, numeric=(1, 2, 3, 4))


def _shown(value: Any) -> str:
    return "(absent)" if value is None else readable(value)
