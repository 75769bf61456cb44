"""The page: the seven steps in a side panel beside axial, coronal, sagittal and 3D views.

Elements the end-to-end test clicks carry ids (``btn-check``, ``gate-table``...), so the test reads like the
reader's clicks. Gate rows are coloured by verdict (pass green, warn amber, fail red), flags sit beside their
segment, and errors show as the one line the CLI would print.
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from StandardSegWeb.app import PanelApp

_STYLE = """
html { overflow-y: auto; }
.gate-pass { background: #1b5e20; } .gate-warn { background: #8d6e00; } .gate-fail { background: #8e1b1b; }
table.ss { width: 100%; border-collapse: collapse; font-size: 12px; }
table.ss td, table.ss th { padding: 2px 4px; border-bottom: 1px solid #444; text-align: left; }
#error { white-space: pre-wrap; }
"""


def build_page(app: "PanelApp") -> object:
    """The trame layout for ``app`` (returned so the caller keeps it alive)."""
    from trame.ui.vuetify3 import VAppLayout
    from trame.widgets import client, html
    from trame.widgets import vuetify3 as v

    with VAppLayout(app.server, theme="dark") as layout:
        client.Style(_STYLE)
        with v.VAppBar(density="compact"):
            v.VToolbarTitle("StandardSeg: {{ protocol_text }} - {{ study_text }}")
        with v.VNavigationDrawer(permanent=True, width=460):
            v.VAlert("{{ error }}", v_if=("error",), type="error", density="compact", id="error")
            with html.Div(v_if=("busy",), id="busy"):
                v.VProgressLinear(model_value=("progress",), height=6, color="green")
                html.Div("{{ progress_text }}", classes="text-caption")
            with v.VExpansionPanels(v_model=("step",), accordion=True):
                for number, builder in enumerate(_STEPS, start=1):
                    with v.VExpansionPanel(id=f"step-{number}"):
                        v.VExpansionPanelTitle(f"{number} {{{{ step_titles[{number - 1}] }}}}"
                                               f" - {{{{ status[Object.keys(status)[{number - 1}]] }}}}")
                        with v.VExpansionPanelText():
                            builder(app, html, v)
        with v.VMain():
            with html.Div(style="height: calc(100vh - 48px); position: relative;", id="views"):
                app.layout_manager.initialize_layout_grid(layout)
    return layout


def _study(app: "PanelApp", html: ModuleType, v: ModuleType) -> None:
    html.Div("Image: {{ study_text }}")
    v.VSelect(label="Protocol", items=("protocols",), v_model=("protocol",), density="compact", id="protocol",
              disabled=("reader_locked",), update_modelValue=(app.choose_protocol, "[$event]"))
    v.VSelect(label="Operator", items=("operators",), item_title="title", item_value="name", v_model=("operator",),
              density="compact", id="operator", disabled=("reader_locked",))
    v.VBtn("Open with this protocol and operator", id="btn-restart", size="small", click=app.restart,
           disabled=("reader_locked || busy",))
    html.Div("Protocol and operator are fixed once the image was checked.", v_if=("reader_locked",),
             classes="text-caption", id="reader-locked")
    html.Div("Protocol: {{ protocol_text }}", id="protocol-text")
    html.Div("Operator: {{ training.operator }} - training {{ training.verdict }} ({{ training.message }})",
             id="training")


def _check(app: "PanelApp", html: ModuleType, v: ModuleType) -> None:
    html.Div("Click 'Place', then click the centre in a slice view.", classes="text-caption")
    v.VBtn("Jump to hottest spot", id="btn-hottest", size="small", click=app.jump_to_hottest)
    html.Div("Hottest spot at {{ hottest }} (RAS mm; centre of the hottest 1 mL sphere away from the image border), "
             "now the centre of every slice view", v_if=("hottest.length",), id="hottest", classes="text-caption")
    v.VTextField(label="Lesion ROI diameter (mm)", v_model=("lesion_diameter",), type="number", density="compact",
                 update_modelValue=(app.set_lesion_diameter, "[$event]"))
    with html.Div(classes="d-flex ga-2 my-1"):
        v.VBtn("Place lesion ROI", id="btn-place-lesion", size="small", click=(app.place, "['lesion']"))
        v.VBtn("Place background ROI", id="btn-place-background", size="small", click=(app.place, "['background']"))
    html.Div("Placing: {{ placing }}", v_if=("placing",), id="placing")
    html.Div("{{ role }}: {{ ras }} (RAS mm)", v_for="(ras, role) in rois", classes="text-caption roi")
    v.VBtn("Check image", id="btn-check", color="primary", size="small", click=app.check, disabled=("busy",))
    html.Div("Gate: {{ gate_overall }}", id="gate-overall", v_if=("gate_overall",))
    with html.Table(classes="ss", id="gate-table", v_if=("gate_rows.length",)):
        with html.Tr(v_for="row in gate_rows", key="row.id", classes=("'gate-' + row.verdict",)):
            html.Td("{{ row.id }}")
            html.Td("{{ row.verdict }}", classes="verdict")
            html.Td("{{ row.message }}")
    v.VTextField(label="Override reason", v_model=("override_reason",), density="compact", id="override-reason")
    v.VBtn("Override gate", id="btn-override", size="small", click=app.override, disabled=("busy",))


def _display(app: "PanelApp", html: ModuleType, v: ModuleType) -> None:
    v.VSelect(label="Window preset", items=("organs",), v_model=("organ",), density="compact")
    v.VBtn("Apply and hold", id="btn-hold", size="small", click=app.hold_preset)
    html.Div("Held: {{ preset_held }} ({{ held_ranges }}); deviations logged: {{ deviations }}", id="preset-held",
             v_if=("preset_held",))
    with html.Div(classes="d-flex ga-2 mt-2"):
        v.VTextField(label="Window", v_model=("window_input",), type="number", density="compact", id="window-input")
        v.VTextField(label="Level", v_model=("level_input",), type="number", density="compact", id="level-input")
        v.VBtn("Set", id="btn-window-level", size="small", click=app.set_window_level)
    html.Div("Window {{ window_level[0] }}, level {{ window_level[1] }} ({{ values_units }})", id="window-level")


def _reference(app: "PanelApp", html: ModuleType, v: ModuleType) -> None:
    html.Div("The background ROI of the image check is the reference tissue.", classes="text-caption")
    html.Div("{{ reference_text || 'not measured yet: check the image' }}", id="reference-text")


def _segment(app: "PanelApp", html: ModuleType, v: ModuleType) -> None:
    v.VTextField(label="Lesion name", v_model=("lesion_name",), density="compact", id="lesion-name")
    v.VSelect(label="Method", items=("methods",), v_model=("method",), density="compact")
    with html.Div(classes="d-flex ga-2 my-1"):
        v.VBtn("Click seeds", id="btn-place-seed", size="small", click=(app.place, "['seed']"))
        v.VBtn("Click background seeds", id="btn-place-background-seed", size="small",
               click=(app.place, "['background-seed']"), v_if=("method === 'grow-from-seeds'",))
        v.VBtn("Done", id="btn-stop-placing", size="small", click=app.stop_placing)
        v.VBtn("Segment", id="btn-segment", color="primary", size="small", click=app.segment, disabled=("busy",))
    html.Div("Seeds: {{ seeds.length }} {{ seeds }}", id="seeds")
    html.Div("Background seeds (grow-from-seeds): {{ background_seeds.length }} {{ background_seeds }}",
             id="background-seeds", v_if=("method === 'grow-from-seeds' || background_seeds.length",))
    with html.Table(classes="ss", id="segments-table", v_if=("segments.length",)):
        with html.Tr():
            for title in ("Segment", "Method", "Voxels", "mL", "Flags"):
                html.Th(title)
        with html.Tr(v_for="row in segments", key="row.id", classes="segment-row"):
            html.Td("{{ row.name }}")
            html.Td("{{ row.method }} ({{ row.type }})")
            html.Td("{{ row.voxels }}", classes="voxels")
            html.Td("{{ row.volume_ml }}")
            with html.Td(classes="flags"):
                v.VChip("{{ flag.code }}", v_for="flag in row.flags", size="x-small", title=("flag.message",),
                        color=("flag.blocking ? 'red' : 'amber'",))
                html.Span("{{ row.failure }}", v_if=("row.failure",), classes="text-red")
    html.Div("Edit a segment with a Segment Editor effect (recorded as a MANUAL step):", classes="text-caption mt-2")
    with html.Div(classes="d-flex ga-2"):
        v.VSelect(label="Effect", items=("effects",), v_model=("effect",), density="compact")
        v.VSelect(label="Segment", items=("segments.filter(row => row.type !== 'failed')",), item_title="name", item_value="id",
                  v_model=("effect_segment",), density="compact")
    with html.Div(classes="d-flex ga-2"):
        v.VBtn("Edit", id="btn-edit", size="small", click=app.edit)
        v.VBtn("Stop editing", id="btn-stop-edit", size="small", click=app.stop_editing)


def _validate(app: "PanelApp", html: ModuleType, v: ModuleType) -> None:
    v.VTextField(label="Reference mask or RTSTRUCT (path on the server)", v_model=("reference_path",),
                 density="compact", id="reference-path")
    v.VTextField(label="ROI name, for an RTSTRUCT holding several (the error lists them)", v_model=("reference_roi",),
                 density="compact", id="reference-roi")
    v.VBtn("Validate", id="btn-validate", size="small", click=app.validate, disabled=("busy",))
    with html.Table(classes="ss", v_if=("validation.length",), id="validation-table"):
        with html.Tr(v_for="row in validation"):
            html.Td("{{ row.segment }}")
            html.Td("Dice {{ row.dice.toFixed(3) }}")
            html.Td("{{ row.volume_difference_percent.toFixed(1) }} % volume")


def _report(app: "PanelApp", html: ModuleType, v: ModuleType) -> None:
    v.VBtn("Export report", id="btn-export", color="primary", size="small", click=app.export, disabled=("busy",))
    with html.Div(v_if=("report_url",), classes="d-flex ga-3 mt-2"):
        html.A("Open report.html", href=("report_url",), target="_blank", id="report-link")
        html.A("Download the bundle (zip)", href=("bundle_url",), id="bundle-link", download=True)


_STEPS = (_study, _check, _display, _reference, _segment, _validate, _report)
