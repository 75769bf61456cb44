"""The phantom bundle, written atomically like every bundle (``report.atomic_folder``):

- ``phantom.json``: the analysis document, validated against ``Resources/Schemas/phantom.schema.json``;
- ``phantom.csv``: one row per sphere (RCs, EARL verdicts, volume and volume error per method);
- ``phantom.html``: EARL verdicts, the RC-versus-diameter plot with the EARL bands shaded (inline SVG), the
  sphere table, axial/coronal/sagittal slices of each sphere with its A50 contour, background, calibration with
  the glass-wall limitation, and the raw JSON;
- ``protocols/<id>.yaml``: the trial protocol with this scan's pet-contrast coefficients.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Sequence

import jsonschema

from StandardSegLib.jsonable import to_jsonable
from StandardSegLib.phantom_analysis.calibration import write_protocol
from StandardSegLib.phantom_analysis.earl import BAND_KEYS
from StandardSegLib.phantom_analysis.recovery import sphere_crop
from StandardSegLib.report.atomic_folder import write_atomically
from StandardSegLib.report.figures import Window, lesion_figure
from StandardSegLib.report.presentation import (definition_list, details, escape, format_number, html_page,
                                                raw_json, table, verdict_badge)
from StandardSegLib.resources import resource_path

if TYPE_CHECKING:
    from StandardSegLib.phantom_analysis.analysis import PhantomAnalysis

SCHEMA_FILE = "phantom.schema.json"
_BAND_COLOURS = {"EARL1": "#9ecae1", "EARL2": "#a1d99b"}


def validate_phantom_document(document: Any) -> None:
    schema = json.loads(resource_path("Schemas", SCHEMA_FILE).read_text(encoding="utf-8"))
    jsonschema.validate(document, schema)


def write_phantom_bundle(analysis: "PhantomAnalysis", target: Path, *, overwrite: bool = False) -> Optional[Path]:
    """Write the bundle into the new folder ``target`` (refused when it exists, unless ``overwrite``)."""
    document = to_jsonable(analysis.document)
    validate_phantom_document(document)

    def fill(folder: Path) -> None:
        (folder / "phantom.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        (folder / "phantom.csv").write_text(phantom_csv(document), encoding="utf-8")
        (folder / "protocols").mkdir()
        write_protocol(analysis.trial_protocol, folder / "protocols")
        (folder / "phantom.html").write_text(phantom_html(analysis, document), encoding="utf-8")

    return write_atomically(Path(target), fill, overwrite=overwrite)


def phantom_csv(document: dict) -> str:
    methods = sorted({name for sphere in document["spheres"] for name in sphere["methods"]})
    versions = [key for key in ("earl1", "earl2") if key in document["spheres"][0]]
    header = ["diameter_mm", "centre_x", "centre_y", "centre_z", "max", "peak", "mean_a50", "rc_max", "rc_peak",
              "rc_a50", *versions]
    for name in methods:
        header += [f"{name}_volume_ml", f"{name}_volume_error_pct", f"{name}_rc_mean"]
    stream = io.StringIO()
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(header)
    for sphere in document["spheres"]:
        row = [sphere["diameter_mm"], *sphere["centre_lps"], sphere["max"], sphere["peak"], sphere["mean_a50"],
               sphere["rc_max"], sphere["rc_peak"], sphere["rc_a50"], *(sphere[v]["verdict"] for v in versions)]
        for name in methods:
            values = sphere["methods"].get(name)
            row += ([values["volume_ml"], values["volume_error_pct"], values["rc_mean"]] if values else ["", "", ""])
        writer.writerow(row)
    return stream.getvalue()


def rc_plot_svg(document: dict, bands: dict, diameters: Sequence[float]) -> str:
    """RCmax and RC_A50 against sphere diameter, each EARL band a shaded bar at its sphere (inline SVG)."""
    width, height, left, bottom, top = 640, 320, 50, 40, 10
    x_low, x_high, y_low, y_high = 5.0, 42.0, 0.0, max(1.6, max(s["rc_max"] for s in document["spheres"]) + 0.1)

    def x(value: float) -> float:
        return left + (value - x_low) / (x_high - x_low) * (width - left - 10)

    def y(value: float) -> float:
        return top + (y_high - value) / (y_high - y_low) * (height - top - bottom)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             'aria-label="Recovery coefficient against sphere diameter with EARL bands">']
    for version, entries in bands.items():
        for key, shift in zip(BAND_KEYS, (-0.6, 0.6)):
            for diameter, (low, high) in zip(diameters, entries[key]):
                parts.append(f'<rect x="{x(diameter + shift) - 4:.1f}" y="{y(high):.1f}" width="8" '
                             f'height="{y(low) - y(high):.1f}" fill="{_BAND_COLOURS.get(version, "#ddd")}" '
                             f'fill-opacity="0.5"><title>{escape(version)} {key}: {low}-{high}</title></rect>')
    for key, shift, colour in (("rc_max", -0.6, "#d62728"), ("rc_a50", 0.6, "#1f77b4")):
        for sphere in document["spheres"]:
            parts.append(f'<circle cx="{x(sphere["diameter_mm"] + shift):.1f}" cy="{y(sphere[key]):.1f}" r="4" '
                         f'fill="{colour}"><title>{sphere["diameter_mm"]:g} mm {key} {sphere[key]:.3f}</title>'
                         '</circle>')
    axis = height - bottom
    parts.append(f'<line x1="{left}" y1="{axis}" x2="{width - 10}" y2="{axis}" stroke="black"/>'
                 f'<line x1="{left}" y1="{top}" x2="{left}" y2="{axis}" stroke="black"/>')
    for diameter in diameters:
        parts.append(f'<text x="{x(diameter):.1f}" y="{axis + 15}" font-size="11" text-anchor="middle">'
                     f'{diameter:g}</text>')
    tick = 0.0
    while tick <= y_high:
        parts.append(f'<text x="{left - 5}" y="{y(tick) + 4:.1f}" font-size="11" text-anchor="end">{tick:.1f}</text>')
        tick += 0.2
    parts.append(f'<text x="{(width + left) / 2}" y="{height - 5}" font-size="12" text-anchor="middle">sphere '
                 'diameter (mm); red: RCmax (left), blue: RC_A50 (right); shaded: '
                 + ", ".join(f"{version} band" for version in bands) + '</text></svg>')
    return "".join(parts)


def calibration_plot_svg(calibration: dict, background: float) -> str:
    """The pet-contrast fit: each sphere's volume-reproducing threshold against its mean(>= 70 % max), both over
    the background, with the fitted line threshold/bg = a x mean/bg + b (inline SVG)."""
    width, height, left, bottom, top = 640, 260, 50, 40, 10
    rows = calibration["per_sphere"]
    xs = [row["lesion_mean_70"] / background for row in rows]
    ys = [row["threshold"] / background for row in rows]
    a, b = calibration["pet_contrast"]["a"], calibration["pet_contrast"]["b"]
    x_low, x_high = 0.9 * min(xs), 1.1 * max(xs)
    line = [a * x_low + b, a * x_high + b]
    y_low, y_high = 0.9 * min(ys + line), 1.1 * max(ys + line)

    def x(value: float) -> float:
        return left + (value - x_low) / (x_high - x_low) * (width - left - 40)

    def y(value: float) -> float:
        return top + (y_high - value) / (y_high - y_low) * (height - top - bottom)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             'aria-label="pet-contrast calibration fit">',
             f'<line x1="{x(x_low):.1f}" y1="{y(line[0]):.1f}" x2="{x(x_high):.1f}" y2="{y(line[1]):.1f}" '
             'stroke="#1f77b4"/>',
             f'<line x1="{left}" y1="{height - bottom}" x2="{width - 10}" y2="{height - bottom}" stroke="black"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="black"/>']
    for row, px, py in zip(rows, xs, ys):
        parts.append(f'<circle cx="{x(px):.1f}" cy="{y(py):.1f}" r="4" fill="#d62728"><title>{row["diameter_mm"]:g} '
                     f'mm</title></circle><text x="{x(px) + 6:.1f}" y="{y(py) - 6:.1f}" font-size="11">'
                     f'{row["diameter_mm"]:g} mm</text>')
    for value in (x_low, x_high):
        parts.append(f'<text x="{x(value):.1f}" y="{height - bottom + 15}" font-size="11" text-anchor="middle">'
                     f'{value:.2f}</text>')
    for value in (y_low, y_high):
        parts.append(f'<text x="{left - 5}" y="{y(value) + 4:.1f}" font-size="11" text-anchor="end">{value:.2f}</text>')
    parts.append(f'<text x="{(width + left) / 2}" y="{height - 5}" font-size="12" text-anchor="middle">'
                 'horizontal: mean(&#8805; 70 % max) / background; vertical: threshold / background</text></svg>')
    return "".join(parts)


def phantom_html(analysis: "PhantomAnalysis", document: dict) -> str:
    phantom = _protocol_phantom(analysis)
    bands = phantom.get("recovery_coefficient_bands") or {}
    units = document["units"]
    true = document["true_activity"]
    body = [f"<h1>Phantom analysis: {escape(phantom.get('name', 'IEC phantom'))}</h1>",
            definition_list([(f"{version}", verdict_badge(verdict))
                             for version, verdict in document["earl"]["overall"].items()]
                            + [("True sphere activity", f"{format_number(true['value'])} {units} ({true['source']}: "
                                f"{true['detail']})"),
                               ("Background mean / CoV", f"{format_number(document['background']['mean'])} {units} / "
                                f"{format_number(100 * document['background']['cov'], '%')} %"),
                               ("Lung residual",
                                f"{format_number(document['background']['lung_residual_pct'], '%')} %"),
                               ("Protocol", f"{document['protocol']['id']} v{document['protocol']['version']}")]),
            "<h2>Recovery coefficients</h2>", rc_plot_svg(document, bands, phantom["sphere_inner_diameters_mm"]),
            f'<p class="muted">EARL bands: {escape(document["earl"]["source"])}</p>']
    versions = [key for key in ("earl1", "earl2") if key in document["spheres"][0]]
    rows = [[f"{s['diameter_mm']:g}", *(format_number(s[k]) for k in ("rc_max", "rc_peak", "rc_a50")),
             *(s[v]["verdict"] for v in versions), format_number(s["centre_sd_mm"])]
            for s in document["spheres"]]
    body.append(table(["sphere (mm)", "RCmax", "RCpeak", "RC_A50", *(v.upper() for v in versions),
                       "centre SE (mm)"], rows, caption="Recovery coefficients and EARL verdicts"))
    method_rows = [[f"{s['diameter_mm']:g}", name, format_number(values["volume_ml"], "ml"),
                    format_number(values["volume_error_pct"], "%"), format_number(values["rc_mean"])]
                   for s in document["spheres"] for name, values in s["methods"].items()]
    body.append(table(["sphere (mm)", "method", "volume (mL)", "volume error (%)", "RCmean"], method_rows,
                      caption="Segmented volume against 4/3·π·r³ per method"))
    body.append("<h2>Spheres (A50 contour)</h2>")
    upper = max(s["max"] for s in document["spheres"])
    for recovery in analysis.spheres:
        located = next(s for s in analysis.location.spheres if s.diameter_mm == recovery.diameter_mm)
        figure = lesion_figure(sphere_crop(analysis.image, located), recovery.a50_mask, Window(0.0, upper))
        images = "".join(f'<figure><img alt="{escape(view.plane.name)}" width="160" src="data:image/png;base64,'
                         f'{base64.b64encode(view.png).decode("ascii")}"><figcaption>{escape(view.plane.name)} '
                         f'{escape(view.position_text)}</figcaption></figure>' for view in figure.views)
        body.append(f"<h3>{recovery.diameter_mm:g} mm</h3><div class=\"views\">{images}</div>")
    calibration = document["calibration"]
    contrast = calibration["pet_contrast"]
    body += ["<h2>Threshold calibration</h2>",
             definition_list([
                 ("Spheres used (mm)", ", ".join(f"{d:g}" for d in calibration["spheres_used_mm"])),
                 ("Percent of max", f"{format_number(calibration['percent_of_max']['value'], '%')} % ± "
                                    f"{format_number(calibration['percent_of_max']['standard_error'], '%')} (SE)"),
                 ("pet-contrast a", f"{format_number(contrast['a'])} ± {format_number(contrast['a_standard_error'])}"),
                 ("pet-contrast b", f"{format_number(contrast['b'])} ± {format_number(contrast['b_standard_error'])}"),
                 ("Trial protocol", f"protocols/{calibration['trial_protocol']['id']}.yaml"),
             ]),
             calibration_plot_svg(calibration, document["background"]["mean"]),
             table(["sphere (mm)", "percent of max", "volume error at that percent (%)",
                    "pet-contrast volume error (%)"],
                   [[f"{row['diameter_mm']:g}", format_number(row["percent_of_max"], "%"),
                     format_number(row["percent_volume_error_pct"], "%"),
                     format_number(row["contrast_volume_error_pct"], "%")] for row in calibration["per_sphere"]],
                   caption="Fit per sphere"),
             f"<p><strong>Limitation:</strong> {escape(calibration['limitation'])}</p>"]
    if document["warnings"]:
        body.append("<h2>Warnings</h2><ul>" + "".join(f"<li>{escape(w)}</li>" for w in document["warnings"]) + "</ul>")
    located = [[f"{s.diameter_mm:g}", ", ".join(f"{v:.1f}" for v in s.centre_lps), format_number(s.centre_sd_mm),
                format_number(s.plane_offset_mm, "mm"), format_number(s.ring_offset_mm, "mm"),
                "yes" if s.uncertain else "no"] for s in analysis.location.spheres]
    body.append(details("Sphere fit (centres, plane and ring offsets)", table(
        ["sphere (mm)", "centre (mm LPS)", "centre SE (mm)", "off plane (mm)", "off ring (mm)", "uncertain"], located,
        caption=f"Ring radius {analysis.location.ring_radius_mm:.1f} mm (IEC: 57.2 mm)")))
    body.append(details("Background ROIs", table(["ROI", "centre (mm LPS)"], [
        [roi["number"], ", ".join(f"{v:.1f}" for v in roi["centre_lps"])] for roi in document["background"]["rois"]])))
    body.append(raw_json(document, "phantom.json"))
    return html_page("StandardSeg phantom analysis", body, style=".views{display:flex;gap:8px}figure{margin:0}")


def _protocol_phantom(analysis: "PhantomAnalysis") -> dict:
    return analysis.trial_protocol["phantom"]
