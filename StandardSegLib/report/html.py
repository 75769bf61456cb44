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

import base64
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence

import numpy as np

from StandardSegLib.report.figures import LesionFigure, Mip, Underlay, View, Window, lesion_figure, pet_mip
from StandardSegLib.report.presentation import (Markup, definition_list, details, escape, flag_list, format_number,
                                                format_quantity, html_page, humanise, raw_json, readable,
                                                record_list, table, unit_text, verdict_badge)

if TYPE_CHECKING:
    from StandardSegLib.report.inputs import ReportInputs

HISTOGRAM_BINS = 30
#: Provenance parameters every seeded method shares (VOI and post-processing); the rest describe the method.
_GENERIC_PARAMETERS = {"voi_margin_mm", "keep_connected", "fill_holes", "margin_mm", "smoothing_mm"}
#: Image-record keys per group, in reading order (README "JSON output keys").
_RECORD_GROUPS = (
    ("Acquisition", ("modality", "manufacturer", "manufacturer_model_name", "software_versions", "series_description",
                     "image_type", "study_datetime", "series_datetime", "acquisition_datetime", "source_format")),
    ("Geometry", ("matrix", "number_of_slices", "pixel_spacing_mm", "slice_thickness_mm", "spacing_between_slices_mm",
                  "spacing_between_slices_tag_mm", "orientation", "origin")),
    ("PET", ("radiopharmaceutical", "radionuclide", "half_life_s", "total_dose_bq", "total_dose_note",
             "injection_datetime", "units", "decay_correction", "corrected_image", "suv_type",
             "reconstruction_method", "reconstruction_iterations", "reconstruction_subsets", "reconstruction_filter",
             "reconstruction_filter_fwhm_mm", "attenuation_correction_method", "scatter_correction_method",
             "randoms_correction_method", "series_type", "actual_frame_duration_ms")),
    ("CT", ("kvp", "tube_current_ma", "exposure_mas", "ctdi_vol_mgy", "convolution_kernel",
            "reconstruction_diameter_mm", "spiral_pitch_factor")),
    ("MR", ("magnetic_field_strength_t", "mr_acquisition_type", "scanning_sequence", "sequence_variant", "scan_options",
            "sequence_name", "repetition_time_ms", "echo_time_ms", "inversion_time_ms", "flip_angle_deg", "b_values")),
    ("Patient", ("patient_sex", "patient_age", "patient_weight_kg", "patient_size_m")),
)
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
.unit{font-weight:400;color:var(--muted);font-size:.9em}
.mip{display:inline-block;position:relative;line-height:0;max-width:100%}.mip img{max-width:100%;height:auto}
.marker{transform:translate(-50%,-50%);background:#c62828;border-radius:9px;min-width:18px;text-align:center}
@media print{.views{grid-template-columns:repeat(3,58mm)}.lesion{break-before:auto}
 #lesion-summary .method{min-width:8em}
 .frame .o,.frame .pos,.frame .barlabel,.bar,.marker{-webkit-print-color-adjust:exact;print-color-adjust:exact}}
"""


def report_html(document: dict[str, Any], inputs: ReportInputs) -> str:
    """The page for ``document`` (already de-identified if asked); images come from ``inputs``' pixels."""
    preset = document["window_preset"]
    modality = document["image"].get("modality")
    window = Window(preset["lower"], preset["upper"], invert=modality == "PT")  # PET read hot-is-dark
    underlay = Underlay.of(inputs.anatomy.image, inputs.anatomy.modality) if inputs.anatomy is not None else None
    figures = [lesion_figure(inputs.values_image, lesion.segment.mask, window, underlay) for lesion in inputs.lesions]
    mip = pet_mip(inputs.values_image, window, [f.centre_lps for f in figures]) if modality == "PT" else None
    protocol = document["protocol"]
    body = [f"<header><h1>StandardSeg report — {escape(protocol['title'])}</h1>",
            f'<p class="subtitle">{escape(_subtitle(document))}</p></header>',
            '<section id="summary"><h2>Summary</h2>', _summary(document, inputs), "</section>"]
    if mip is not None:
        body += ['<section id="overview"><h2>Overview</h2>', _mip_figure(mip, document), "</section>"]
    body += ['<section id="lesions"><h2>Lesions</h2>']
    if underlay is None:
        body.append(f'<p class="muted">{escape(_no_fusion_text(modality))}</p>')
    body += [_lesion_section(segment, figure, document, underlay)
             for segment, figure in zip(document["segments"], figures)]
    body += ["</section>", _gate_section(document["gate"]), _image_section(document),
             _inputs_section(document, inputs), _software_section(document), "<footer></footer>"]
    return html_page(f"StandardSeg report: {protocol['id']}", body, style=_STYLE)


# --- summary -------------------------------------------------------------------------------------------------


def _subtitle(document: Mapping[str, Any]) -> str:
    image = document["image"]
    parts = [image.get("modality"), image.get("series_description"), _date(image.get("study_datetime")),
             f"report {_date(document['timestamps']['finished_at'])}",
             "de-identified" if document["deidentified"] else None]
    return " · ".join(str(part) for part in parts if part)


def _date(value: Optional[str]) -> Optional[str]:
    return value.replace("T", " ")[:16] if value else None


def _summary(document: Mapping[str, Any], inputs: ReportInputs) -> str:
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
             f"{'segmentation allowed' if gate['allows_segmentation'] else 'segmentation not allowed'}; "
             f"{len(gate['items'])} items, {len(problems)} not passed.</p>"]
    if problems:
        items = "".join(f"<li>{verdict_badge(item['verdict'])} <strong>{escape(item['id'])}</strong>: "
                        f"{escape(item.get('message'))}</li>" for item in problems)
        lines.append(f"<ul>{items}</ul>")
    override = gate.get("override")
    if override:
        lines.append(f"<p><strong>Override</strong> by {escape(override['operator'])} on "
                     f"{escape(_date(override['timestamp']))}: “{escape(override['reason'])}”</p>")
    return f'<div class="verdict {escape(overall)}" role="status">{"".join(lines)}</div>'


def _failures_box(failures: Sequence[Mapping[str, Any]]) -> str:
    if not failures:
        return ""
    items = "".join(f"<li><strong>{escape(failure.get('name'))}</strong> ({escape(failure.get('stage'))}): "
                    f"{escape(failure.get('reason'))}</li>" for failure in failures)
    return f'<div class="alert" role="alert"><strong>{len(failures)} lesion(s) not reported</strong><ul>{items}</ul></div>'


def _number(value: Any, unit: Optional[str], key: str) -> Markup:
    """A number at reading precision, tagged with the report.json path it shows (``data-key``)."""
    return Markup(f'<span data-key="{escape(key)}">{escape(format_number(value, unit))}</span>')


def _lesion_table(document: Mapping[str, Any]) -> str:
    segments = document["segments"]
    units = _intensity_unit(document)
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
        row: list[Any] = [segment["number"], Markup(f'<a href="#lesion-{segment["number"]}">{escape(segment["name"])}</a>'),
                          Markup(f'<span class="method">{escape(_method_text(segment["provenance"], units))}</span>'),
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
                Markup(f'<span class="flag-codes">{escape(", ".join(flag["code"] for flag in flags))}</span>')]
        rows.append(row)
        classes.append("flagged" if flags else None)
    numeric = set(range(3, len(header) - 1)) | {0}
    return table(header, rows, caption="Lesions (volumes by voxel count; long/short axis on the axial slice of "
                 "largest extent)", table_id="lesion-summary", row_classes=classes, numeric=numeric)


def _head(name: str, unit: str) -> Markup:
    return Markup(f'{escape(name)}<br><span class="unit">{escape(unit)}</span>')


def _intensity_unit(document: Mapping[str, Any]) -> str:
    """The lesions' intensity unit; CT values stored as "raw" are HU by definition (DICOM Rescale to HU)."""
    units = next((segment["measurements"]["intensity"]["units"] for segment in document["segments"]),
                 document["gate"].get("units") or "raw")
    return "HU" if units == "raw" and document["image"].get("modality") == "CT" else units


def _method_text(provenance: Mapping[str, Any], units: str) -> str:
    """The method and its threshold in words, e.g. "percentage of SUVmax threshold (percent 41): ≥ 1.97 SUVbw"."""
    from StandardSegLib.segmentation.registry import METHODS

    method = provenance["method"]
    title = METHODS[method].title if method in METHODS else provenance.get("algorithm_name") or method
    specific = [f"{humanise(key).lower()} {readable(value)}" for key, value in (provenance.get("parameters") or {}).items()
                if key not in _GENERIC_PARAMETERS and not isinstance(value, (dict, list))]
    text = title + (f" ({', '.join(specific)})" if specific else "")
    thresholds = provenance.get("thresholds") or {}
    lower, upper = thresholds.get("lower"), thresholds.get("upper")
    shown = unit_text(units)
    if lower is not None and upper is not None:
        text += f": {format_number(lower, units)} to {format_number(upper, units)} {shown}"
    elif lower is not None:
        text += f": ≥ {format_number(lower, units)} {shown}"
    elif upper is not None:
        text += f": ≤ {format_number(upper, units)} {shown}"
    edits = sum(1 for step in provenance.get("steps", []) if step.get("algorithm_type") == "MANUAL")
    if edits and method != "manual":
        text += f"; {edits} manual edit{'s' if edits > 1 else ''}"
    return text


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
            f"(SD {format_number(reference['sd'], reference['units'])}, {format_number(reference['volume_ml'], 'ml')} mL,"
            f" {reference['roi']})")


def _no_fusion_text(modality: Optional[str]) -> str:
    if modality == "PT":
        return ("No CT or MR in the same frame of reference was given with this report, so the views show the PET "
                "alone (inverted grey).")
    return "Views in the protocol's window."


# --- figures -------------------------------------------------------------------------------------------------


def _png_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _view_figure(view: View, name: str, modality: str) -> str:
    plane = view.plane
    kind = f"{modality}/{'CT' if view.fused else ''}".rstrip("/") if view.fused else modality
    what = f"{plane.name.capitalize()}{', fused ' + kind if view.fused else ''}"
    alt = (f"{what} view of lesion {name} at {view.position_text}, field of view {view.field_mm:.0f} mm, "
           "lesion contour in cyan")
    left, right, top, bottom = plane.labels
    bar = 100.0 * view.scale_bar_mm / view.field_mm
    return (f'<figure class="view"><div class="frame"><img src="{_png_uri(view.png)}" alt="{escape(alt)}" '
            f'width="{view.pixels}" height="{view.pixels}" decoding="async">'
            f'<span class="o l" aria-hidden="true">{left}</span><span class="o r" aria-hidden="true">{right}</span>'
            f'<span class="o t" aria-hidden="true">{top}</span><span class="o b" aria-hidden="true">{bottom}</span>'
            f'<span class="pos">{escape(view.position_text)}</span><span class="bar" style="width:{bar:.1f}%"></span>'
            f'<span class="barlabel">{view.scale_bar_mm:g} mm</span></div>'
            f"<figcaption>{escape(what)}</figcaption></figure>")


def _mip_figure(mip: Mip, document: Mapping[str, Any]) -> str:
    markers = "".join(f'<span class="marker" style="left:{100 * x:.1f}%;top:{100 * y:.1f}%" '
                      f'title="{escape(segment["name"])}">{number}</span>'
                      for (number, x, y), segment in zip(mip.markers, document["segments"]))
    alt = (f"Coronal maximum-intensity projection of the PET ({mip.width_mm:.0f} × {mip.height_mm:.0f} mm) with "
           f"{len(mip.markers)} numbered lesion markers")
    return (f'<figure><div class="mip"><img src="{_png_uri(mip.png)}" alt="{escape(alt)}" width="{mip.width_pixels}" '
            f'height="{mip.height_pixels}">{markers}</div><figcaption>Coronal MIP (anterior view: patient right on '
            f"the left), window {_window_text(document['window_preset'])}; numbers as in the lesion table"
            "</figcaption></figure>")


def _window_text(preset: Mapping[str, Any]) -> str:
    return f"{format_number(preset['lower'], preset['unit'])}–{format_quantity(preset['upper'], preset['unit'])}"


def _histogram_svg(values: np.ndarray, units: str, width: int = 300, height: int = 150) -> str:
    counts, edges = np.histogram(values, bins=HISTOGRAM_BINS)
    top = max(int(counts.max()), 1)
    bar, plot = (width - 40) / HISTOGRAM_BINS, height - 45
    bars = "".join(f'<rect x="{30 + i * bar:.1f}" y="{height - 30 - plot * c / top:.1f}" width="{bar * 0.9:.1f}" '
                   f'height="{plot * c / top:.1f}" fill="#4a78b5"/>' for i, c in enumerate(counts))
    labels = (f'<text x="30" y="{height - 16}" font-size="11">{escape(format_number(float(edges[0]), units))}</text>'
              f'<text x="{width - 10}" y="{height - 16}" font-size="11" text-anchor="end">'
              f'{escape(format_number(float(edges[-1]), units))}</text>'
              f'<text x="{width / 2}" y="{height - 3}" font-size="11" text-anchor="middle">{escape(unit_text(units))}'
              f'</text><text x="2" y="12" font-size="11">{top} voxels</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
            f'aria-label="intensity histogram of {values.size} voxels, {HISTOGRAM_BINS} bins">{bars}{labels}</svg>')


# --- per lesion ----------------------------------------------------------------------------------------------


def _lesion_section(segment: Mapping[str, Any], figure: LesionFigure, document: Mapping[str, Any],
                    underlay: Optional[Underlay]) -> str:
    number, name = segment["number"], segment["name"]
    m, flags = segment["measurements"], segment.get("flags", [])
    units = _intensity_unit(document)
    modality = document["image"].get("modality") or ""
    views = [_view_figure(view, name, modality) for view in figure.views]
    window = _window_text(document["window_preset"])
    caption = (f"Largest cross-section in each plane, {window}"
               + (f", over {underlay.modality}" if underlay is not None else "")
               + "; contour in cyan; position in patient coordinates (LPS).")
    parts = [f'<section class="lesion" id="lesion-{number}" aria-labelledby="lesion-{number}-title">',
             f'<h3 id="lesion-{number}-title">{number}. {escape(name)}'
             + (f' <span class="flag-codes">({escape(", ".join(f["code"] for f in flags))})</span>' if flags else "")
             + "</h3>", flag_list(flags),
             f"<p>{escape(_method_text(segment['provenance'], units))}</p>",
             '<div class="lesion-body"><div class="figures"><div class="views">', *views, "</div>",
             f'<p class="muted">{escape(caption)}</p></div><div>', _measurement_list(segment, units),
             f"<figure>{_histogram_svg(figure.values, units)}<figcaption>Intensity histogram</figcaption></figure>",
             "</div></div>", _steps_details(segment["provenance"])]
    if segment.get("radiomics"):
        parts.append(_radiomics_details(segment["radiomics"], m["intensity"]["units"]))
    parts += [_provenance_details(segment["provenance"]), "</section>"]
    return "".join(parts)


def _measurement_list(segment: Mapping[str, Any], units: str) -> str:
    m = segment["measurements"]
    intensity, uptake, ratios = m["intensity"], m.get("uptake"), segment.get("reference_ratios")
    pairs = [("Voxels", format_number(m["voxel_count"], "voxels")),
             ("Volume (voxels)", format_quantity(m["volume_voxels_mm3"] / 1000.0, "ml")),
             ("Volume (mesh)", format_quantity(m["volume_mesh_mm3"] / 1000.0, "ml")),
             ("Surface (mesh)", format_quantity(m["surface_area_mesh_mm2"], "mm2")),
             ("Long × short axis", f"{format_number(m['axial']['long_axis_mm'], 'mm')} × "
                                  f"{format_quantity(m['axial']['short_axis_mm'], 'mm')}"),
             ("3D max diameter", format_quantity(m["max_3d_diameter_mm"], "mm")),
             ("Mean ± SD", f"{format_number(intensity['mean'], units)} ± {format_quantity(intensity['sd'], units)}"),
             ("Min – max", f"{format_number(intensity['min'], units)} – {format_quantity(intensity['max'], units)}")]
    if uptake:
        pairs += [("SUVmax / SUVpeak / SUVmean", " / ".join(format_number(uptake[key], units)
                                                             for key in ("suv_max", "suv_peak", "suv_mean"))
                   + f" {unit_text(units)}"),
                  ("MTV", format_quantity(uptake["mtv_ml"], "ml")),
                  ("TLG", format_quantity(uptake["tlg_suv_ml"], units + "*ml"))]
    if ratios:
        reference = ratios["reference"]
        pairs += [(f"Reference ({reference}) mean", format_quantity(ratios["reference_mean"], ratios["units"])),
                  (f"Max / {reference} mean", format_number(ratios["max_ratio"], "1")),
                  (f"Mean / {reference} mean", format_number(ratios["mean_ratio"], "1"))]
        if ratios.get("peak_ratio") is not None:
            pairs.append((f"Peak / {reference} mean", format_number(ratios["peak_ratio"], "1")))
    pairs += [(f"Warning {i}", warning) for i, warning in enumerate(m.get("warnings", []), start=1)]
    return definition_list(pairs)


def _steps_details(provenance: Mapping[str, Any]) -> str:
    rows = [(number, step["name"], step["algorithm_type"], format_number(step["voxel_count"], "voxels"),
             readable(step.get("parameters") or {}))
            for number, step in enumerate(provenance.get("steps", []), start=1)]
    return details(f"Segmentation steps ({len(rows)})",
                   table(("#", "Step", "Type", "Voxels after", "Parameters"), rows, numeric=(0, 3)))


def _provenance_details(provenance: Mapping[str, Any]) -> str:
    voi = provenance.get("voi")
    gate = provenance.get("gate") or {}
    facts = definition_list([
        ("Algorithm", f"{provenance.get('algorithm_name')} ({provenance.get('algorithm_type')})"),
        ("Seeds (LPS mm)", "; ".join(readable(seed) for seed in provenance.get("seeds_lps", []))),
        ("Background seeds (LPS mm)", "; ".join(readable(seed) for seed in provenance.get("background_seeds_lps", []))),
        ("VOI", f"{readable(voi['size'])} voxels from ({readable(voi['first_voxel_lps'])}) to "
                f"({readable(voi['last_voxel_lps'])}) mm" if voi else None),
        ("Thresholds", readable(provenance.get("thresholds") or {}) if provenance.get("thresholds") else None),
        ("Units", provenance.get("units")),
        ("Gate at segmentation", f"{gate.get('overall', '')}" + (f", override: {provenance['gate_override_reason']}"
                                                                  if provenance.get("gate_override_reason") else "")),
        ("Operator", provenance.get("operator")),
        ("Method source", (provenance.get("details") or {}).get("source")),
        ("Software", readable(provenance.get("software") or {})),
        ("Time", _date(provenance.get("time"))),
    ])
    return details("Provenance", Markup(facts + raw_json(provenance, "Provenance as JSON")))


def _radiomics_details(radiomics: Mapping[str, Any], units: str) -> str:
    ibsi = radiomics.get("ibsi", {})
    rows = []
    for name, value in radiomics["features"].items():
        code = ibsi.get(name, {})
        rows.append((code.get("code", ""), code.get("name", ""), name, format_number(value),
                     unit_text(_feature_unit(name, units))))
    rows.sort(key=lambda row: (row[0] == "", row[2]))  # IBSI-coded features first
    body = table(("IBSI code", "IBSI name", "pyradiomics feature", "Value", "Unit"), rows, numeric=(3,),
                 caption=f"pyradiomics {radiomics['pyradiomics_version']}, settings from "
                         f"{radiomics['parameters_source']}")
    deviations = [(d["title"], d["pyradiomics"], d["ibsi"], d["effect"]) for d in radiomics.get("ibsi_deviations", [])]
    if deviations:
        body += table(("Known IBSI deviation", "pyradiomics", "IBSI", "Effect"), deviations,
                      caption="pyradiomics' known deviations from IBSI that apply to these settings")
    return details(f"Radiomics: {len(rows)} features ({len(ibsi)} with an IBSI code)", Markup(body))


def _feature_unit(name: str, units: str) -> str:
    """Unit of a pyradiomics feature (pyradiomics documentation, feature definitions): shape lengths in mm,
    areas mm², volumes mm³; first-order statistics in image units (variance squared, energy squared);
    ratios, shape indices and texture features dimensionless ("")."""
    feature = name.split("_")[-1]
    feature_class = name.split("_")[-2] if name.count("_") >= 2 else ""
    if feature_class == "shape":
        if feature.endswith("Volume"):
            return "mm3"
        if feature == "SurfaceArea":
            return "mm2"
        if feature == "SurfaceVolumeRatio":
            return "1/mm"
        if feature.endswith(("Length", "Diameter")) or "Diameter" in feature:
            return "mm"
        return ""
    if feature_class == "firstorder":
        if feature in {"Variance"}:
            return f"{units}²"
        if feature in {"Energy", "TotalEnergy"}:
            return f"{units}²" + ("·mm³" if feature == "TotalEnergy" else "")
        if feature in {"Skewness", "Kurtosis", "Entropy", "Uniformity"}:
            return ""
        return units
    return ""


# --- closing sections ----------------------------------------------------------------------------------------


def _gate_section(gate: Mapping[str, Any]) -> str:
    rows, classes = [], []
    for item in gate["items"]:
        unit = item.get("unit")
        rows.append((verdict_badge(item["verdict"]), item["id"], item.get("rule"), _gate_value(item.get("measured"), unit),
                     _gate_value(item.get("threshold"), unit), item.get("message")))
        classes.append(item["verdict"])
    metrics = [(name.upper(), readable(gate[name].get("value")), gate[name].get("definition"),
                readable(gate[name].get("threshold")), gate[name].get("verdict"))
               for name in ("snr", "cnr", "tbr") if gate.get(name)]
    parts = ['<section id="image-check"><h2>Image check (gate)</h2>',
             table(("Verdict", "Item", "Rule", "Measured", "Threshold", "Message"), rows, table_id="gate",
                   row_classes=classes)]
    if metrics:
        parts.append(table(("Metric", "Value", "Definition", "Threshold", "Verdict"), metrics,
                           caption="Image quality from the ROIs"))
    parts.append(definition_list([("Lesion ROI", readable(gate.get("lesion_roi"))),
                                  ("Background ROI", readable(gate.get("background_roi"))),
                                  ("Warnings", "; ".join(gate.get("warnings", [])))]))
    parts += [raw_json(gate, "Gate as JSON"), "</section>"]
    return "".join(parts)


def _gate_value(value: Any, unit: Optional[str]) -> str:
    if isinstance(value, float):
        return format_quantity(value, unit) if unit else readable(value)
    return readable(value) if value is not None else ""


def _image_section(document: Mapping[str, Any]) -> str:
    image = document["image"]
    parts = ['<section id="image"><h2>Image record</h2>']
    for title, keys in _RECORD_GROUPS:
        present = [key for key in keys if image.get(key) not in (None, "", [])]
        if present:
            parts += [f"<h3>{escape(title)}</h3>", record_list(image, present)]
    suv = document["gate"].get("suv_conversion")
    if suv and suv.get("available", True) and suv.get("rule"):
        parts += ["<h3>SUV conversion</h3>", definition_list([
            ("Type", suv.get("suv_type")), ("Rule", suv.get("rule")),
            ("Reference time", _date(suv.get("reference_time"))), ("Injection", _date(suv.get("injection_time"))),
            ("Decay factor", readable(suv.get("decay_factor"))), ("Normaliser", readable(suv.get("normaliser"))),
            ("Warnings", "; ".join(suv.get("warnings", [])))])]
    if image.get("warnings"):
        parts.append(f"<p><strong>Warnings:</strong> {escape('; '.join(image['warnings']))}</p>")
    varying = image.get("varies_across_slices")
    if varying:
        parts.append(definition_list([("Varies across slices", readable(varying))]))
    parts += [raw_json(image, "Image record as JSON"), "</section>"]
    return "".join(parts)


def inputs_digest(entries: Sequence[Mapping[str, str]]) -> str:
    """One SHA-256 for all inputs: the hash of their ``sha256sum`` listing (``<sha256>  <path>`` lines, sorted by
    path, each ending in a newline), so ``sha256sum`` on a listing reproduces it."""
    listing = "".join(f"{entry['sha256']}  {entry['path']}\n" for entry in sorted(entries, key=lambda e: e["path"]))
    return hashlib.sha256(listing.encode("utf-8")).hexdigest()


def _inputs_section(document: Mapping[str, Any], inputs: ReportInputs) -> str:
    entries = document["inputs"]
    sizes = []
    for path in inputs.input_files.values():
        try:
            sizes.append(Path(path).stat().st_size)
        except OSError:
            continue
    folders = sorted({entry["path"].rsplit("/", 1)[0] if "/" in entry["path"] else "." for entry in entries})
    summary = definition_list([
        ("Files", f"{len(entries)} in {len(folders)} folder{'s' if len(folders) != 1 else ''}"),
        ("Total size", _size_text(sum(sizes)) if len(sizes) == len(entries) else None),
        ("Combined SHA-256", Markup(f'<span class="hash">{escape(inputs_digest(entries))}</span>')),
    ])
    listing = table(("File", "SHA-256"), [(entry["path"], Markup(f'<span class="hash">{escape(entry["sha256"])}</span>'))
                                          for entry in entries])
    return ('<section id="inputs"><h2>Inputs</h2>' + summary
            + '<p class="muted">Combined SHA-256: of the <code>sha256sum</code> listing of the files below, sorted by '
              "path.</p>" + details(f"All {len(entries)} files with SHA-256", listing) + "</section>")


def _size_text(size: int) -> str:
    for unit, factor in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= factor:
            return f"{size / factor:.1f} {unit}"
    return f"{size} bytes"


def _software_section(document: Mapping[str, Any]) -> str:
    protocol = document["protocol"]
    parts = ['<section id="software"><h2>Protocol and software</h2>',
             definition_list([("Protocol", f"{protocol['title']} ({protocol['id']} v{protocol['version']})"),
                              ("Protocol SHA-256", Markup(f'<span class="hash">{escape(protocol["sha256"])}</span>')),
                              ("Window source", document["window_preset"].get("source")),
                              ("Started", _date(document["timestamps"]["started_at"])),
                              ("Finished", _date(document["timestamps"]["finished_at"])),
                              ("Outputs", ", ".join(document.get("outputs", [])))]),
             definition_list((name, version or "not installed") for name, version in document["software"].items())]
    if document.get("context"):
        parts.append(raw_json(document["context"], "Run context as JSON"))
    parts.append("</section>")
    return "".join(parts)
