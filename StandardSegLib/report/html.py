"""report.html: a self-contained page (no external files or scripts) a reader can open and archive.

Summary, gate table (pass / warn / fail), per-lesion table, for each lesion the axial slice of its largest
cross-section in the protocol's window with the contour drawn, an intensity histogram (inline SVG) and the
provenance. Every value from the document is HTML-escaped; images are ``data:`` URIs.
"""

from __future__ import annotations

import base64
import html
import json
from typing import Any, Iterable

import numpy as np
import SimpleITK as sitk

from StandardSegLib.report.inputs import ReportInputs
from StandardSegLib.report.png import encode_png

CONTOUR_RGB = (255, 0, 0)
MIN_IMAGE_PIXELS = 256  # small PET matrices are enlarged (nearest neighbour) to at least this size
HISTOGRAM_BINS = 30
_STYLE = """
body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #bbb;padding:3px 6px;font-size:90%;vertical-align:top}th{background:#eee}
.pass{background:#d7f5d7}.warn{background:#fff1c2}.fail{background:#f8c9c9}figure{display:inline-block;margin:1em}
pre{background:#f6f6f6;padding:.5em;overflow-x:auto;font-size:80%}
"""


def report_html(document: dict[str, Any], inputs: ReportInputs) -> str:
    """The page for ``document`` (already de-identified if asked); images come from ``inputs``' pixels."""
    e = _escape
    protocol, gate = document["protocol"], document["gate"]
    preset = document["window_preset"]
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>StandardSeg report: {e(protocol['id'])}</title><style>{_STYLE}</style></head><body>",
        "<h1>StandardSeg report</h1>",
        "<h2>Summary</h2>",
        _table(("Item", "Value"), [
            ("Protocol", f"{protocol['title']} ({protocol['id']} v{protocol['version']})"),
            ("Protocol SHA-256", protocol["sha256"]),
            ("Gate", gate["overall"].upper()),
            ("Modality", document["image"].get("modality")),
            ("Series", document["image"].get("series_description")),
            ("Operator", _operator_text(document.get("operator"))),
            ("Window preset", f"{preset['organ']}: {preset['lower']:g} to {preset['upper']:g} {preset['unit']} "
                              f"({len(preset['deviations'])} deviations)"),
            ("Segments", len(document["segments"])),
            ("De-identified", "yes" if document["deidentified"] else "no"),
            ("Started", document["timestamps"]["started_at"]),
            ("Finished", document["timestamps"]["finished_at"]),
        ]),
        "<h2>Image check (gate)</h2>",
        _gate_table(gate),
    ]
    if gate.get("override"):
        parts.append(f"<p><strong>Override:</strong> {e(json.dumps(gate['override']))}</p>")
    parts += ["<h2>Lesions</h2>", _lesion_table(document["segments"])]
    lower, upper = preset["lower"], preset["upper"]
    invert = document["image"].get("modality") == "PT"  # PET is read hot-is-dark (inverted grey)
    for segment, lesion in zip(document["segments"], inputs.lesions):
        measured = segment["measurements"]
        slice_png = _slice_png(inputs.values_image, lesion.segment.mask, lower, upper, invert)
        values = sitk.GetArrayViewFromImage(inputs.values_image)[sitk.GetArrayViewFromImage(lesion.segment.mask) > 0]
        parts += [
            f"<h3>{e(segment['name'])}</h3>",
            f'<figure><img alt="axial slice of {e(segment["name"])} with contour" src="data:image/png;base64,'
            f'{base64.b64encode(slice_png).decode("ascii")}"><figcaption>Largest axial cross-section, window '
            f"{lower:g} to {upper:g} {e(preset['unit'])}, contour in red</figcaption></figure>",
            f"<figure>{_histogram_svg(values, measured['intensity']['units'])}<figcaption>Intensity histogram "
            f"({int(values.size)} voxels)</figcaption></figure>",
        ]
    parts += ["<h2>Provenance</h2>"]
    for segment in document["segments"]:
        parts.append(f"<h3>{e(segment['name'])}</h3><pre>{e(json.dumps(segment['provenance'], indent=1))}</pre>")
        if segment.get("radiomics"):
            parts.append(_radiomics_summary(segment["radiomics"]))
    parts += ["<h3>Software</h3>", _table(("Software", "Version"), document["software"].items()),
              "<h3>Input files</h3>",
              _table(("File", "SHA-256"), [(item["path"], item["sha256"]) for item in document["inputs"]]),
              "<h3>Image record</h3>", f"<pre>{e(json.dumps(document['image'], indent=1))}</pre>",
              "</body></html>"]
    return "\n".join(parts) + "\n"


def _radiomics_summary(radiomics: dict[str, Any]) -> str:
    """Feature count, settings source and pyradiomics' IBSI deviations (the values are in report.json)."""
    deviations = [(d["title"], d["pyradiomics"], d["ibsi"], d["effect"]) for d in radiomics["ibsi_deviations"]]
    text = (f"<p>Radiomics: {len(radiomics['features'])} features (pyradiomics "
            f"{_escape(radiomics['pyradiomics_version'])}, {len(radiomics['ibsi'])} with an IBSI code), settings "
            f"from {_escape(radiomics['parameters_source'])}; values in report.json.</p>")
    if deviations:
        text += _table(("Known IBSI deviation", "pyradiomics", "IBSI", "Effect"), deviations)
    return text


def _escape(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _table(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    head = "".join(f"<th>{_escape(cell)}</th>" for cell in header)
    body = "".join("<tr>" + "".join(f"<td>{_escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _gate_table(gate: dict[str, Any]) -> str:
    rows = []
    for item in gate["items"]:
        verdict = item["verdict"]
        cells = (item["id"], item.get("rule"), _value(item.get("measured")), _value(item.get("threshold")),
                 item.get("message"))
        rows.append(f'<tr class="{_escape(verdict)}"><td>{_escape(verdict.upper())}</td>'
                    + "".join(f"<td>{_escape(cell)}</td>" for cell in cells) + "</tr>")
    head = "".join(f"<th>{name}</th>" for name in ("Verdict", "Item", "Rule", "Measured", "Threshold", "Message"))
    return f'<table id="gate"><tr>{head}</tr>{"".join(rows)}</table>'


def _lesion_table(segments: list[dict[str, Any]]) -> str:
    rows = []
    for segment in segments:
        m = segment["measurements"]
        uptake = m.get("uptake") or {}
        rows.append((segment["name"], m["voxel_count"], _number(m["volume_voxels_mm3"]), _number(m["volume_mesh_mm3"]),
                     _number(m["axial"]["long_axis_mm"]), _number(m["axial"]["short_axis_mm"]),
                     _number(m["max_3d_diameter_mm"]), _number(uptake.get("suv_max")), _number(uptake.get("suv_peak")),
                     _number(uptake.get("suv_mean")), _number(uptake.get("mtv_ml")), _number(uptake.get("tlg_suv_ml"))))
    return _table(("Segment", "Voxels", "Volume (mm3, voxels)", "Volume (mm3, mesh)", "Long axis (mm)",
                   "Short axis (mm)", "3D max diameter (mm)", "SUVmax", "SUVpeak", "SUVmean", "MTV (mL)", "TLG"), rows)


def _number(value: Any) -> str:
    return "" if value is None else f"{value:.4g}"


def _value(value: Any) -> str:
    if value is None:
        return ""
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def _operator_text(operator: Any) -> str:
    if not operator:
        return "not recorded"
    training = operator.get("training") or {}
    return f"{operator['name']} ({operator['role']}); training {training.get('verdict', 'not checked')}"


def _slice_png(image: sitk.Image, mask: sitk.Image, lower: float, upper: float, invert: bool) -> bytes:
    """Axial slice with most lesion voxels, radiological orientation (LPS: anterior up, patient left right)."""
    if not np.allclose(image.GetDirection(), np.eye(3).ravel()):
        image, mask = sitk.DICOMOrient(image, "LPS"), sitk.DICOMOrient(mask, "LPS")
    inside = sitk.GetArrayViewFromImage(mask) > 0
    k = int(np.argmax(inside.sum(axis=(1, 2))))
    plane = sitk.GetArrayViewFromImage(image)[k].astype(np.float64)
    grey = np.clip((plane - lower) / (upper - lower), 0.0, 1.0)
    grey = np.rint(255.0 * (1.0 - grey if invert else grey)).astype(np.uint8)
    rgb = np.repeat(grey[:, :, None], 3, axis=2)
    factor = max(1, -(-MIN_IMAGE_PIXELS // max(grey.shape)))
    rgb = rgb.repeat(factor, axis=0).repeat(factor, axis=1)
    region = inside[k].repeat(factor, axis=0).repeat(factor, axis=1)
    rgb[_outline(region)] = CONTOUR_RGB
    return encode_png(rgb)


def _outline(region: np.ndarray) -> np.ndarray:
    """Pixels of ``region`` with a 4-neighbour outside it (the image border counts as outside)."""
    padded = np.pad(region, 1)
    interior = (padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:])
    return region & ~interior


def _histogram_svg(values: np.ndarray, units: str, width: int = 360, height: int = 200) -> str:
    counts, edges = np.histogram(values, bins=HISTOGRAM_BINS)
    top = max(int(counts.max()), 1)
    bar = (width - 40) / HISTOGRAM_BINS
    bars = "".join(f'<rect x="{30 + i * bar:.1f}" y="{height - 30 - 150 * c / top:.1f}" width="{bar * 0.9:.1f}" '
                   f'height="{150 * c / top:.1f}" fill="#4a78b5"/>' for i, c in enumerate(counts))
    labels = (f'<text x="30" y="{height - 12}" font-size="11">{edges[0]:.3g}</text>'
              f'<text x="{width - 10}" y="{height - 12}" font-size="11" text-anchor="end">{edges[-1]:.3g}</text>'
              f'<text x="{width / 2}" y="{height - 1}" font-size="11" text-anchor="middle">{_escape(units)}</text>'
              f'<text x="2" y="20" font-size="11">{top}</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
            f'aria-label="intensity histogram">{bars}{labels}</svg>')
