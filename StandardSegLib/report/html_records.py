"""report.html, closing sections: the gate table, the image record and SUV conversion, the inputs (count, size,
one combined hash, the full list collapsed), protocol and software; raw JSON behind "details" toggles."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence

from StandardSegLib.report.presentation import (Markup, breakable, definition_list, details, escape,
                                                format_quantity, raw_json, readable, record_list, table,
                                                verdict_badge)
from StandardSegLib.report.wording import short_datetime

if TYPE_CHECKING:
    from StandardSegLib.report.inputs import ReportInputs

#: Image-record keys per group, in reading order (README "JSON output keys").
RECORD_GROUPS = (
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


def gate_section(gate: Mapping[str, Any]) -> str:
    rows, classes = [], []
    for item in gate["items"]:
        unit = item.get("unit")
        rows.append((verdict_badge(item["verdict"]), breakable(item["id"]), item.get("rule"),
                     _gate_value(item.get("measured"), unit),
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


def image_section(document: Mapping[str, Any]) -> str:
    image = document["image"]
    parts = ['<section id="image"><h2>Image record</h2>']
    for title, keys in RECORD_GROUPS:
        present = [key for key in keys if image.get(key) not in (None, "", [])]
        if present:
            parts += [f"<h3>{escape(title)}</h3>", record_list(image, present)]
    suv = document["gate"].get("suv_conversion")
    if suv and suv.get("available", True) and suv.get("rule"):
        parts += ["<h3>SUV conversion</h3>", definition_list([
            ("Type", suv.get("suv_type")), ("Rule", suv.get("rule")),
            ("Reference time", short_datetime(suv.get("reference_time"))),
            ("Injection", short_datetime(suv.get("injection_time"))),
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


def inputs_section(document: Mapping[str, Any], inputs: ReportInputs) -> str:
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
    listing = table(("File", "SHA-256"), [(entry["path"],
                                           Markup(f'<span class="hash">{escape(entry["sha256"])}</span>'))
                                          for entry in entries])
    return ('<section id="inputs"><h2>Inputs</h2>' + summary
            + '<p class="muted">Combined SHA-256: of the <code>sha256sum</code> listing of the files below, sorted by '
              "path.</p>" + details(f"All {len(entries)} files with SHA-256", listing) + "</section>")


def _size_text(size: int) -> str:
    for unit, factor in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= factor:
            return f"{size / factor:.1f} {unit}"
    return f"{size} bytes"


def software_section(document: Mapping[str, Any]) -> str:
    protocol = document["protocol"]
    parts = ['<section id="software"><h2>Protocol and software</h2>',
             definition_list([("Protocol", f"{protocol['title']} ({protocol['id']} v{protocol['version']})"),
                              ("Protocol SHA-256", Markup(f'<span class="hash">{escape(protocol["sha256"])}</span>')),
                              ("Window source", document["window_preset"].get("source")),
                              ("Started", short_datetime(document["timestamps"]["started_at"])),
                              ("Finished", short_datetime(document["timestamps"]["finished_at"])),
                              ("Outputs", ", ".join(document.get("outputs", [])))]),
             definition_list((name, version or "not installed") for name, version in document["software"].items())]
    if document.get("context"):
        parts.append(raw_json(document["context"], "Run context as JSON"))
    parts.append("</section>")
    return "".join(parts)
