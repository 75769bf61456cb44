"""report.html: one self-contained page (no external files or scripts) a radiologist reads at a glance.

Summary first: the image-check verdict with every failed or warned item, then one row per lesion with its
key numbers (volume in mL, SUV or HU at reading precision, see ``presentation``), the method and threshold in
words and any plausibility flag in red; lesions that failed are listed. Then a PET MIP with numbered lesion
markers, and per lesion zoomed axial, coronal and sagittal views with the contour, slice position,
orientation letters and a scale bar in the protocol's window (fused over the CT/MR when the report has one),
its histogram, segmentation steps, radiomics (collapsible) and provenance. The full gate table, the image
record, inputs (count, size, one combined hash), protocol and software close the page. Every value is
HTML-escaped; images are ``data:`` URIs; raw JSON sits behind "details" toggles.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence

from StandardSegLib.report.figures import Underlay, Window, lesion_figure, pet_mip
from StandardSegLib.report.html_lesion import lesion_section, mip_figure
from StandardSegLib.report.html_records import gate_section, image_section, inputs_section, software_section
from StandardSegLib.report.presentation import (Markup, breakable, definition_list, escape, format_number,
                                                format_quantity, html_page, table, unit_text, verdict_badge)
from StandardSegLib.report.wording import intensity_unit, method_text, short_datetime

if TYPE_CHECKING:
    from StandardSegLib.report.inputs import ReportInputs

FIGURE_THREADS = 4  # lesion figures drawn in parallel (up to the CPU count)
_STYLE = """
.views{display:grid;grid-template-columns:repeat(3,minmax(0,220px));gap:8px;margin:.4em 0}
figure{margin:0}figcaption{font-size:12px;color:var(--muted);margin-top:2px}
.frame{position:relative;line-height:0}.frame img{width:100%;height:auto;display:block}
.frame .o,.frame .pos,.frame .barlabel,.marker{position:absolute;line-height:1.2;font:600 11px system-ui,sans-serif;
 color:#fff;background:rgba(0,0,0,.6);padding:0 3px;border-radius:2px}
.o.l{left:2px;top:50%;transform:translateY(-50%)}.o.r{right:2px;top:50%;transform:translateY(-50%)}
.o.t{top:2px;left:50%;transform:translateX(-50%)}.o.b{bottom:2px;left:50%;transform:translateX(-50%)}
.pos{top:2px;left:2px}.bar{position:absolute;right:6px;bottom:20px;height:4px;background:#fff;
 outline:1px solid #000}.barlabel{right:6px;bottom:4px}
.lesion{border-top:1px solid var(--line);padding-top:.3em}
.lesion-body{display:flex;flex-wrap:wrap;gap:0 2em;align-items:flex-start}.lesion-body dl{min-width:22em}
.figures{max-width:680px}
#lesion-summary{width:100%}#lesion-summary .method{display:inline-block;min-width:14em}
#lesion-summary td a{white-space:nowrap}
.unit{font-weight:400;color:var(--muted);font-size:.9em}
.mip{display:inline-block;position:relative;line-height:0;max-width:100%}.mip img{max-width:100%;height:auto}
.marker{transform:translate(-50%,-50%);background:#c62828;border-radius:9px;min-width:18px;text-align:center}
@media print{.views{grid-template-columns:repeat(3,58mm)}.lesion{break-before:auto}
 #lesion-summary .method{min-width:8em}#lesion-summary td a{white-space:normal}#gate{table-layout:fixed}#gate td{overflow-wrap:anywhere}
 #gate th:nth-child(1){width:11%}#gate th:nth-child(2){width:15%}#gate th:nth-child(3){width:22%}
 #gate th:nth-child(4),#gate th:nth-child(5){width:11%}
 .frame .o,.frame .pos,.frame .barlabel,.bar,.marker{-webkit-print-color-adjust:exact;print-color-adjust:exact}}
"""


def report_html(document: dict[str, Any], inputs: ReportInputs) -> str:
    """The page for ``document`` (already de-identified if asked); images come from ``inputs``' pixels."""
    preset = document["window_preset"]
    modality = document["image"].get("modality")
    window = Window(preset["lower"], preset["upper"], invert=modality == "PT")  # PET read hot-is-dark
    underlay = Underlay.of(inputs.anatomy.image, inputs.anatomy.modality) if inputs.anatomy is not None else None
    with ThreadPoolExecutor(max_workers=min(FIGURE_THREADS, os.cpu_count() or 1)) as pool:  # SimpleITK and zlib
        figures = list(pool.map(lambda lesion: lesion_figure(inputs.values_image, lesion.segment.mask, window,
                                                             underlay), inputs.lesions))  # run outside the GIL
    mip = pet_mip(inputs.values_image, window, [f.centre_lps for f in figures]) if modality == "PT" else None
    protocol = document["protocol"]
    body = [f"<header><h1>StandardSeg report — {escape(protocol['title'])}</h1>",
            f'<p class="subtitle">{escape(_subtitle(document))}</p></header>',
            '<section id="summary"><h2>Summary</h2>', _summary(document), "</section>"]
    if mip is not None:
        body += ['<section id="overview"><h2>Overview</h2>', mip_figure(mip, document), "</section>"]
    body += ['<section id="lesions"><h2>Lesions</h2>']
    if underlay is None:
        body.append(f'<p class="muted">{escape(_no_fusion_text(modality))}</p>')
    body += [lesion_section(segment, figure, document, underlay)
             for segment, figure in zip(document["segments"], figures)]
    body += ["</section>", gate_section(document["gate"]), image_section(document),
             inputs_section(document, inputs), software_section(document)]
    return html_page(f"StandardSeg report: {protocol['id']}", body, style=_STYLE)


def _subtitle(document: Mapping[str, Any]) -> str:
    image = document["image"]
    parts = [image.get("modality"), image.get("series_description"), short_datetime(image.get("study_datetime")),
             f"report {short_datetime(document['timestamps']['finished_at'])}",
             "de-identified" if document["deidentified"] else None]
    return " · ".join(str(part) for part in parts if part)


def _summary(document: Mapping[str, Any]) -> str:
    gate, protocol, preset = document["gate"], document["protocol"], document["window_preset"]
    reference = gate.get("reference_tissue")
    operator = document.get("operator")
    facts = definition_list([
        ("Protocol", f"{protocol['title']} ({protocol['id']} v{protocol['version']})"),
        ("Operator", _operator_text(operator)),
        ("Reference tissue", _reference_text(reference)),
        ("Window", f"{preset['organ']}: {format_number(preset['lower'], preset['unit'])} to "
                   f"{format_quantity(preset['upper'], preset['unit'])}"
                   + (f" ({len(preset['deviations'])} deviations recorded)" if preset["deviations"] else "")),
        ("Lesions", f"{len(document['segments'])} segmented"
                    + (f", {len(document.get('failures', []))} failed" if document.get("failures", []) else "")),
    ])
    return "".join([_verdict_box(gate), _failures_box(document.get("failures", [])),
                    _lesion_table(document), facts])


def _verdict_box(gate: Mapping[str, Any]) -> str:
    overall = gate["overall"]
    problems = [item for item in gate["items"] if item["verdict"] != "pass"]
    lines = [f"<p><strong>Image check</strong> {verdict_badge(overall)} "
             f"{_allowed_text(gate)}; "
             f"{len(gate['items'])} items, {len(problems)} not passed.</p>"]
    if problems:
        items = "".join(f"<li>{verdict_badge(item['verdict'])} <strong>{escape(item['id'])}</strong>: "
                        f"{escape(item.get('message'))}</li>" for item in problems)
        lines.append(f"<ul>{items}</ul>")
    override = gate.get("override")
    if override:
        lines.append(f"<p><strong>Override</strong> by {escape(override['operator'])} on "
                     f"{escape(short_datetime(override['timestamp']))}: “{escape(override['reason'])}”</p>")
    return f'<div class="verdict {escape(overall)}" role="status">{"".join(lines)}</div>'


def _allowed_text(gate: Mapping[str, Any]) -> str:
    if not gate["allows_segmentation"]:
        return "segmentation not allowed"
    return "segmentation allowed by the override below" if gate.get("override") else "segmentation allowed"


def _failures_box(failures: Sequence[Mapping[str, Any]]) -> str:
    if not failures:
        return ""
    items = "".join(f"<li><strong>{escape(failure.get('name'))}</strong> ({escape(failure.get('stage'))}): "
                    f"{escape(failure.get('reason'))}</li>" for failure in failures)
    return (f'<div class="alert" role="alert"><strong>{len(failures)} lesion(s) not reported</strong>'
            f"<ul>{items}</ul></div>")


def _number(value: Any, unit: Optional[str], key: str) -> Markup:
    """A number at reading precision, tagged with the report.json path it shows (``data-key``)."""
    return Markup(f'<span data-key="{escape(key)}">{escape(format_number(value, unit))}</span>')


def _lesion_table(document: Mapping[str, Any]) -> str:
    segments = document["segments"]
    units = intensity_unit(document)
    pet = any(segment["measurements"].get("uptake") for segment in segments)
    reference = next((segment["reference_ratios"]["reference"] for segment in segments
                      if segment.get("reference_ratios")), None)
    header: list[Any] = ["#", "Lesion", "Method and threshold", _head("Volume", "mL")]
    if pet:
        header += [_head("SUVmax", units), _head("SUVpeak", units), _head("SUVmean", units),
                   _head("TLG", unit_text(units + "*ml"))]
    else:
        header += [_head("Mean", unit_text(units)), _head("Max", unit_text(units))]
    if reference:
        header.append(_head(f"{'SUVmax' if pet else 'Max'} / {reference}", "ratio to mean"))
    header += [_head("Long axis", "mm"), _head("Short axis", "mm"), "Flags"]
    rows, classes = [], []
    for segment in segments:
        m, flags = segment["measurements"], segment.get("flags", [])
        link = Markup(f'<a href="#lesion-{segment["number"]}">{breakable(segment["name"])}</a>')
        row: list[Any] = [segment["number"], link,
                          Markup(f'<span class="method">{escape(method_text(segment["provenance"], units))}</span>'),
                          _number(m["volume_voxels_mm3"] / 1000.0, "ml", "measurements.volume_voxels_mm3/1000")]
        if pet:
            uptake = m.get("uptake") or {}
            row += [_number(uptake.get(key), units, f"measurements.uptake.{key}") for key in ("suv_max", "suv_peak",
                                                                                                "suv_mean")]
            row.append(_number(uptake.get("tlg_suv_ml"), units + "*ml", "measurements.uptake.tlg_suv_ml"))
        else:
            row += [_number(m["intensity"][key], units, f"measurements.intensity.{key}") for key in ("mean", "max")]
        if reference:
            ratios = segment.get("reference_ratios") or {}
            row.append(_number(ratios.get("max_ratio"), "1", "reference_ratios.max_ratio"))
        row += [_number(m["axial"]["long_axis_mm"], "mm", "measurements.axial.long_axis_mm"),
                _number(m["axial"]["short_axis_mm"], "mm", "measurements.axial.short_axis_mm"),
                Markup(f'<span class="flag-codes">{"<br>".join(breakable(flag["code"]) for flag in flags)}</span>')]
        rows.append(row)
        classes.append("flagged" if flags else None)
    numeric = set(range(3, len(header) - 1)) | {0}
    return table(header, rows, caption="Lesions (volumes by voxel count; long/short axis on the axial slice of "
                 "largest extent)", table_id="lesion-summary", row_classes=classes, numeric=numeric)


def _head(name: str, unit: str) -> Markup:
    return Markup(f'{escape(name)}<br><span class="unit">{escape(unit)}</span>')


def _operator_text(operator: Optional[Mapping[str, Any]]) -> str:
    if not operator:
        return "not recorded"
    training = operator.get("training") or {}
    return f"{operator['name']} ({operator['role']}); training {training.get('verdict', 'not checked')}" + (
        f": {training['message']}" if training.get("message") else "")


def _reference_text(reference: Optional[Mapping[str, Any]]) -> str:
    if not reference:
        return "none measured"
    return (f"{reference['name']}: mean {format_quantity(reference['mean'], reference['units'])} "
            f"(SD {format_number(reference['sd'], reference['units'])}, "
            f"{format_quantity(reference['volume_ml'], 'ml')},"
            f" {reference['roi']})")


def _no_fusion_text(modality: Optional[str]) -> str:
    if modality == "PT":
        return ("No CT or MR in the same frame of reference was given with this report, so the views show the PET "
                "alone (inverted grey).")
    return "Views in the protocol's window."
