"""The agreement bundle: agreement.json, agreement.csv (tidy: one row per lesion x comparison x measure) and a
self-contained agreement.html, written atomically (``StandardSegLib.report.atomic_folder``)."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional

from StandardSegLib.report.atomic_folder import write_text_files
from StandardSegLib.report.presentation import (definition_list, escape, format_number, html_page, raw_json, table,
                                                verdict_badge)

AGREEMENT_JSON, AGREEMENT_CSV, AGREEMENT_HTML = "agreement.json", "agreement.csv", "agreement.html"
CSV_HEADER = ("lesion", "reader", "against", "measure", "value", "unit")
_MEASURES = (("dice", ""), ("jaccard", ""), ("hd95_mm", "mm"), ("mean_surface_distance_mm", "mm"),
             ("hausdorff_mm", "mm"), ("volume_difference_percent", "%"), ("volume_ml", "mL"), ("sensitivity", ""),
             ("specificity", ""), ("staple_sensitivity", ""), ("staple_specificity", ""))


def write_agreement_bundle(document: Mapping[str, Any], target: str | os.PathLike,
                           overwrite: bool = False) -> tuple[Path, Optional[Path]]:
    target = Path(os.path.abspath(target))
    files = {AGREEMENT_JSON: json.dumps(document, indent=2, allow_nan=False) + "\n",
             AGREEMENT_CSV: agreement_csv(document), AGREEMENT_HTML: agreement_html(document)}
    return target, write_text_files(target, files, overwrite=overwrite)


def _comparisons(lesion: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield from lesion["readers"]
    yield from lesion["pairs"]
    if lesion["reference"] is not None:
        yield from lesion["reference"]["readers"]


def agreement_csv(document: Mapping[str, Any]) -> str:
    stream = io.StringIO()
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for lesion in document["lesions"]:
        writer.writerow((lesion["lesion"], "consensus", "", "volume_ml", lesion["consensus"]["volume_ml"], "mL"))
        for row in _comparisons(lesion):
            for measure, unit in _MEASURES:
                if measure in row:
                    writer.writerow((lesion["lesion"], row["reader"], row["against"], measure, row[measure], unit))
    volumes = document["volumes"]
    for name in ("icc_2_1", "icc_3_1"):
        icc = volumes[name]
        interval = icc["ci95"] or ["", ""]
        for measure, value in ((name, icc["value"]), (f"{name}_ci95_low", interval[0]), (f"{name}_ci95_high", interval[1])):
            writer.writerow(("all", "all readers", "", measure, "" if value is None else value, ""))
    for pair in volumes["bland_altman"]:
        limits = pair["limits_ml"] or ["", ""]
        for measure, value in (("bland_altman_bias", pair["bias_ml"]), ("bland_altman_low", limits[0]),
                               ("bland_altman_high", limits[1])):
            writer.writerow(("all", pair["reader"], pair["against"], measure, value, "mL"))
    return stream.getvalue()


def agreement_html(document: Mapping[str, Any]) -> str:
    volumes = document["volumes"]
    body = ["<h1>Reader agreement</h1>",
            definition_list((("Readers", ", ".join(document["readers"])), ("Lesions", len(document["lesions"])))),
            _training(document.get("training_check")),
            "<h2>Readers (mean over lesions)</h2>",
            table(("Reader", "Against", "Dice", "Jaccard", "HD95 (mm)", "Mean surface distance (mm)"),
                  [(row["reader"], row["against"], format_number(row["mean_dice"]), format_number(row["mean_jaccard"]),
                    format_number(row["mean_hd95_mm"], "mm"), format_number(row["mean_surface_distance_mm"], "mm"))
                   for row in document["summary"]], row_headers=True, numeric=(2, 3, 4, 5)),
            "<h2>Volumes</h2>",
            table(("Statistic", "Value", "95 % CI", "Note"),
                  [(name, format_number(volumes[key]["value"]),
                    " to ".join(format_number(value) for value in volumes[key]["ci95"] or []), volumes[key]["note"])
                   for name, key in (("ICC(2,1) absolute agreement", "icc_2_1"), ("ICC(3,1) consistency", "icc_3_1"))],
                  row_headers=True, numeric=(1,)),
            table(("Reader", "Against", "Bias (mL)", "SD (mL)", "Limits of agreement (mL)"),
                  [(pair["reader"], pair["against"], format_number(pair["bias_ml"]), format_number(pair["sd_ml"]),
                    " to ".join(format_number(value) for value in pair["limits_ml"] or []))
                   for pair in volumes["bland_altman"]], caption="Bland-Altman (reader minus other)", numeric=(2, 3)),
            *(_lesion(lesion) for lesion in document["lesions"]),
            raw_json(document)]
    return html_page("StandardSeg reader agreement", body)


def _training(check: Optional[Mapping[str, Any]]) -> str:
    if not check:
        return ""
    return (f'<div class="verdict {escape(check["verdict"])}"><p>{verdict_badge(check["verdict"])} Training check of '
            f'{escape(check["operator"])}: mean Dice {format_number(check["mean_dice"])} against the '
            f'{escape(check["against"])}, protocol {escape(check["protocol"])} requires '
            f'{format_number(check["min_agreement_dice"])}</p></div>')


def _lesion(lesion: Mapping[str, Any]) -> str:
    rows = [(row["reader"], row["against"], *(format_number(row.get(key), unit or None) for key, unit in _MEASURES[:6]))
            for row in _comparisons(lesion)]
    notes = "".join(f"<li>{escape(note)}</li>" for note in lesion["notes"])
    return (f"<h2>Lesion {lesion['lesion']}</h2><p>Masks: {escape(', '.join(lesion['masks']))}; STAPLE consensus "
            f"{format_number(lesion['consensus']['volume_ml'], 'ml')} mL.</p>"
            + (f"<ul>{notes}</ul>" if notes else "")
            + table(("Reader", "Against", "Dice", "Jaccard", "HD95 (mm)", "MSD (mm)", "HD (mm)", "Volume diff. %"),
                    rows, row_headers=True, numeric=(2, 3, 4, 5, 6, 7)))
