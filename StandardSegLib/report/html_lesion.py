"""report.html, one lesion: its views (fused over the anatomy when there is one), numbers, histogram, and
collapsed segmentation steps, radiomics table and provenance; and the PET MIP with a marker per lesion."""

from __future__ import annotations

import base64
from typing import Any, Mapping, Optional

import numpy as np

from StandardSegLib.report.figures import LesionFigure, Mip, Underlay, View
from StandardSegLib.report.presentation import (Markup, definition_list, details, escape, flag_list, format_number,
                                                format_quantity, raw_json, readable, table, unit_text)
from StandardSegLib.report.wording import intensity_unit, method_text, short_datetime, window_text

HISTOGRAM_BINS = 30


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


def mip_figure(mip: Mip, document: Mapping[str, Any]) -> str:
    placed: list[tuple[float, float]] = []
    spans = []
    for (number, x, y), segment in zip(mip.markers, document["segments"]):
        while any(abs(x - px) < 0.04 and abs(y - py) < 0.03 for px, py in placed):
            x += 0.045  # lesions projecting to the same place: side by side, not hidden under each other
        placed.append((x, y))
        spans.append(f'<span class="marker" style="left:{100 * x:.1f}%;top:{100 * y:.1f}%" '
                       f'title="{escape(segment["name"])}">{number}</span>')
    alt = (f"Coronal maximum-intensity projection of the PET ({mip.width_mm:.0f} × {mip.height_mm:.0f} mm) with "
           f"{len(mip.markers)} numbered lesion markers")
    return (f'<figure><div class="mip"><img src="{_png_uri(mip.png)}" alt="{escape(alt)}" width="{mip.width_pixels}" '
            f'height="{mip.height_pixels}">{"".join(spans)}</div>'
            "<figcaption>Coronal MIP (anterior view: patient right on "
            f"the left), window {window_text(document['window_preset'])}; numbers as in the lesion table"
            "</figcaption></figure>")


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


def lesion_section(segment: Mapping[str, Any], figure: LesionFigure, document: Mapping[str, Any],
                    underlay: Optional[Underlay]) -> str:
    number, name = segment["number"], segment["name"]
    m, flags = segment["measurements"], segment.get("flags", [])
    units = intensity_unit(document)
    modality = document["image"].get("modality") or ""
    views = [_view_figure(view, name, modality) for view in figure.views]
    window = window_text(document["window_preset"])
    caption = (f"Largest cross-section in each plane, {window}"
               + (f", over {underlay.modality}" if underlay is not None else "")
               + "; contour in cyan; position in patient coordinates (LPS).")
    parts = [f'<section class="lesion" id="lesion-{number}" aria-labelledby="lesion-{number}-title">',
             f'<h3 id="lesion-{number}-title">{number}. {escape(name)}'
             + (f' <span class="flag-codes">({escape(", ".join(f["code"] for f in flags))})</span>' if flags else "")
             + "</h3>", flag_list(flags),
             f"<p>{escape(method_text(segment['provenance'], units))}</p>",
             '<div class="lesion-body"><div class="figures"><div class="views">', *views, "</div>",
             f'<p class="muted">{escape(caption)}</p>',
             f"<figure>{_histogram_svg(figure.values, units)}<figcaption>Intensity histogram</figcaption></figure>",
             "</div>", _measurement_list(segment, units), "</div>", _steps_details(segment["provenance"])]
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
             ("Min – max",
              f"{format_number(intensity['min'], units)} – {format_quantity(intensity['max'], units)}")]
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
        ("Time", short_datetime(provenance.get("time"))),
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
