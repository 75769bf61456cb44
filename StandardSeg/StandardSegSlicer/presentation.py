"""What the guided panel shows, computed from session results without Qt.

The widget copies these strings and colours into its labels and tables; keeping them here lets pytest check
them and keeps the widget to wiring signals.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional, Sequence

#: The guided steps in order (architecture.md, "One guided session"); GuidedSession.status() uses these keys.
STEPS = ("study", "check", "display", "reference", "segment", "validate", "report")
#: Steps a reader may skip: validation needs a reference segmentation, which most studies do not have.
OPTIONAL_STEPS = frozenset({"validate"})

DONE, TODO, BLOCKED = "done", "todo", "blocked"

#: Background colour of a verdict cell and the text colour readable on it (green / amber / red).
VERDICT_COLORS = {
    "pass": ("#2e7d32", "#ffffff"),
    "warn": ("#ffb300", "#000000"),
    "fail": ("#c62828", "#ffffff"),
}


@dataclass(frozen=True)
class StepState:
    """Whether a step's section can be used, and the suffix its title shows."""

    step: str
    enabled: bool
    status: str
    reason: str  # why it is disabled, "" when enabled


def step_states(status: Optional[Mapping[str, str]]) -> list[StepState]:
    """Enable each step only when every earlier required step is done and the step itself is not blocked.

    Without a session (``status`` None) only the study step is usable. Data flows one way (style.md): a later
    step reads earlier results, so it cannot run before them.
    """
    states = []
    missing = None  # first required step not done yet
    for step in STEPS:
        state = (status or {}).get(step, TODO)
        if step == STEPS[0]:
            states.append(StepState(step, True, state, ""))
        elif status is None:
            states.append(StepState(step, False, state, "start a session first"))
        elif missing is not None:
            states.append(StepState(step, False, state, f"complete step '{missing}' first"))
        elif state == BLOCKED:
            states.append(StepState(step, False, state, f"step '{step}' is blocked"))
        else:
            states.append(StepState(step, True, state, ""))
        if missing is None and step not in OPTIONAL_STEPS and state != DONE:
            missing = step
    return states


def format_value(value: Any, unit: Optional[str] = None) -> str:
    """A measured value or threshold as a short cell text: numbers to 4 significant digits, a two-number
    list as a range, other lists comma-separated, None as a dash."""
    if value is None:
        return "\u2014"
    suffix = f" {unit}" if unit else ""
    if isinstance(value, bool):
        return ("yes" if value else "no") + suffix
    if isinstance(value, (int, float)):
        return f"{value:.4g}{suffix}"
    if isinstance(value, Mapping):
        return ", ".join(f"{key} {format_value(item)}" for key, item in value.items()) + suffix
    if isinstance(value, (list, tuple)):
        if len(value) == 2 and all(isinstance(item, (int, float)) and not isinstance(item, bool) for item in value):
            return f"{value[0]:.4g}\u2013{value[1]:.4g}{suffix}"
        return ", ".join(format_value(item) for item in value) + suffix
    return f"{value}{suffix}"


@dataclass(frozen=True)
class GateRow:
    """One row of the gate table: item, measured, threshold, verdict, and the tooltip explaining it."""

    item: str
    measured: str
    threshold: str
    verdict: str
    tooltip: str


def gate_rows(items: Iterable[Any]) -> list[GateRow]:
    """Rows for the gate items (``GateItem``: id, kind, verdict, measured, threshold, unit, rule, message)."""
    rows = []
    for item in items:
        unit = getattr(item, "unit", None)
        details = [getattr(item, "rule", None), item.message, getattr(item, "source", None)]
        rows.append(GateRow(item=f"{item.id} ({item.kind})", measured=format_value(item.measured, unit),
                            threshold=format_value(item.threshold, unit), verdict=item.verdict,
                            tooltip="\n".join(text for text in details if text)))
    return rows


def gate_summary(verdict: Any) -> str:
    """One sentence on the overall outcome, naming the override when there is one."""
    override = getattr(verdict, "override", None)
    text = f"Overall: {verdict.overall.upper()}."
    if override is not None:
        return f"{text} Overridden by {override.operator}: {override.reason}"
    if verdict.allows_segmentation:
        return f"{text} Segmentation is allowed."
    return f"{text} Segmentation needs a passing image or an override with a written reason."


def training_text(status: Any) -> str:
    """Rich text for an operator's ``TrainingStatus`` (verdict in its colour, then the message)."""
    background, _text = VERDICT_COLORS.get(status.verdict, ("#000000", "#ffffff"))
    return f'<span style="color:{background}"><b>{html.escape(status.verdict.upper())}</b></span> ' \
           f"{html.escape(status.message)}"


def reference_text(reference: Optional[Mapping[str, Any]]) -> str:
    """The reference-tissue measurement (``ReferenceMeasurement.to_dict()``) as a few lines of text."""
    if not reference:
        return "No reference tissue measured yet: place the background ROI and check the image."
    units = reference.get("units") or ""
    lines = [f"{reference.get('name', 'reference')}: {reference.get('roi', '')}".rstrip(": ")]
    for key in ("mean", "sd", "median"):
        if key in reference:
            lines.append(f"{key}: {format_value(reference[key], units)}")
    if "voxel_count" in reference:
        lines.append(f"voxels: {reference['voxel_count']} ({format_value(reference.get('volume_ml'), 'mL')})")
    return "\n".join(lines)


def deviation_text(deviation: Mapping[str, Any]) -> str:
    """One recorded window/level deviation (``DisplayDeviation.to_dict()``) as a list entry: what the reader
    asked for, and what the hold did (reverted to the preset, or logged and kept)."""
    keys = ("requested_window", "requested_level", "applied_window", "applied_level")
    if not all(key in deviation for key in keys):
        return "; ".join(f"{key}: {format_value(value)}" for key, value in deviation.items())
    unit = deviation.get("unit") or ""
    return (f"{deviation.get('timestamp', '')} {deviation.get('preset', '')}: requested "
            f"W {deviation['requested_window']:.4g} / L {deviation['requested_level']:.4g} {unit}; "
            f"{deviation.get('action', '')}, shown W {deviation['applied_window']:.4g} / "
            f"L {deviation['applied_level']:.4g}").strip()


def table_columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Column keys for a table of per-segment dicts: every key in first-seen order."""
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    return list(columns)


def failed_lesion_rows(failed: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """The table of lesions whose method failed (``GuidedSession.failed_lesions``) beside the segment list:
    what was tried (method, seeds) and why it failed, one row per lesion name."""
    return [{"lesion": item["name"], "method": item["method"], "stage": item["stage"], "reason": item["reason"],
             "seeds (LPS mm)": "; ".join("(" + ", ".join(f"{value:.1f}" for value in seed) + ")"
                                         for seed in item["lesion"].get("seeds", []))} for item in failed]


def sphere_text(sphere: Any) -> str:
    """A sphere ROI (``SphereROI``) as "centre (x, y, z) mm LPS, diameter d mm"."""
    centre = ", ".join(f"{value:.1f}" for value in sphere.center_lps)
    return f"centre ({centre}) mm LPS, diameter {sphere.diameter_mm:g} mm"


def protocol_summary_html(protocol: Any) -> str:
    """The protocol at a glance for the study step: identity and hash, window presets with their source, checks."""
    escape = html.escape
    rows = [f"<b>{escape(protocol.title)}</b> &mdash; {escape(protocol.id)} v{escape(protocol.version)}, "
            f"{escape(protocol.modality)}, sha256 {protocol.content_sha256[:12]}", "<br><b>Window presets</b><ul>"]
    for name, preset in protocol.window_presets.items():
        rows.append(f"<li>{escape(name)}: W {preset.window:g} / L {preset.level:g} {escape(preset.unit)} "
                    f"<i>({escape(preset.source)})</i></li>")
    rows.append("</ul><b>Image checks</b><ul>")
    for rule in protocol.image_spec:
        rows.append(f"<li>{escape(rule['check'])} ({escape(rule.get('severity', 'fail'))})</li>")
    for name, rule in protocol.quality_metrics.items():
        rows.append(f"<li>{escape(name.upper())} = {escape(rule['definition'])} &ge; {rule['min']:g}</li>")
    rows.append("</ul>")
    return "".join(rows)
