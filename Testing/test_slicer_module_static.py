"""The Slicer module, checked without Slicer: StandardSeg.py is parsed (``ast``), Resources/UI/StandardSeg.ui
is read as XML, and what they name is looked up in the library and in Slicer's conventions.

The desktop application is not needed, so a widget renamed in the .ui but not in the code, a parameter bound
to a widget that cannot show it, a library call whose name or keyword changed, or an untranslated UI string
fails here instead of in front of a reader.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import sys
import textwrap
import xml.etree.ElementTree as ElementTree
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULE_FILE = ROOT / "StandardSeg" / "StandardSeg.py"
HELPERS_DIR = ROOT / "StandardSeg" / "StandardSegSlicer"
UI_FILE = ROOT / "Resources" / "UI" / "StandardSeg.ui"
if str(ROOT / "StandardSeg") not in sys.path:  # StandardSegSlicer sits beside the module file, as in Slicer
    sys.path.insert(0, str(ROOT / "StandardSeg"))

#: Widget classes the .ui may use: Qt, CTK and Slicer classes present in every Slicer 5 (PythonQt wraps them,
#: and qSlicerWidget / qMRMLWidget are the bases of the custom ones).
KNOWN_WIDGET_CLASSES = {
    "QWidget", "QLabel", "QPushButton", "QComboBox", "QLineEdit", "QCheckBox", "QDoubleSpinBox", "QSpinBox",
    "QTableWidget", "QListWidget", "QTextBrowser",
    "ctkCollapsibleButton", "ctkPathLineEdit", "ctkDirectoryButton",
    "qMRMLWidget", "qMRMLNodeComboBox", "qMRMLSegmentEditorWidget", "qMRMLSegmentSelectorWidget",
    "qMRMLSubjectHierarchyTreeView", "qSlicerWidget", "qSlicerMarkupsPlaceWidget",
}
#: Which widget class ``connectGui`` binds to which parameter type (Slicer's parameterNodeWrapper/guiConnectors.py;
#: a QComboBox needs a static Choice annotation, so protocol-dependent combo boxes are bound by hand).
CONNECTABLE = {
    "QLineEdit": {"str"},
    "QCheckBox": {"bool"},
    "QDoubleSpinBox": {"float"},
    "QSpinBox": {"int"},
    "ctkPathLineEdit": {"pathlib.Path"},
    "ctkDirectoryButton": {"pathlib.Path"},
}
#: Parameters the widget binds itself (combo boxes filled from the protocol) or sets from the session.
BOUND_BY_HAND = {"protocolId", "referenceTissue", "windowPreset", "segmentationMethod", "segmentationNode"}
#: Segment Editor effects of Slicer 5 (core and Python effects); a protocol naming another would hide a tool.
SLICER_EFFECTS = {
    "Paint", "Draw", "Erase", "Level tracing", "Grow from seeds", "Fill between slices", "Margin", "Hollow",
    "Smoothing", "Scissors", "Islands", "Logical operators", "Threshold", "Mask volume", "Local threshold",
    "Wrap solidify", "Engrave", "Watershed", "Split volume", "Surface cut", "Draw tube",
}
STEP_SECTIONS = ["studyCollapsibleButton", "checkCollapsibleButton", "displayCollapsibleButton",
                 "referenceCollapsibleButton", "segmentCollapsibleButton", "validateCollapsibleButton",
                 "reportCollapsibleButton"]
#: Sections after the guided steps, outside them (no step state, collapsed until opened): issue 13's phantom
#: analysis and issue 15's follow-up comparison and reader agreement.
EXTRA_SECTIONS = ["phantomCollapsibleButton", "followupCollapsibleButton"]
UI_TEXT_ATTRIBUTES = {"text", "toolTip", "windowTitle", "labelText", "placeholderText", "title"}
DISPLAY_FUNCTIONS = {"errorDisplay", "warningDisplay", "infoDisplay", "confirmOkCancelDisplay",
                     "confirmYesNoDisplay"}  # delayDisplay: self-test messages, not reader-facing


@lru_cache(maxsize=None)
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _helper_files() -> list[Path]:
    return sorted(HELPERS_DIR.glob("*.py"))


def _module_class(name: str) -> ast.ClassDef:
    return next(node for node in _tree(MODULE_FILE).body if isinstance(node, ast.ClassDef) and node.name == name)


@lru_cache(maxsize=None)
def _ui() -> ElementTree.ElementTree:
    return ElementTree.parse(UI_FILE)


def _ui_widgets() -> dict[str, str]:
    return {widget.get("name"): widget.get("class") for widget in _ui().iter("widget")}


def _string_property(widget: ElementTree.Element, name: str):
    prop = widget.find(f"property[@name='{name}']")
    return None if prop is None else prop.findtext("string")


def _ui_names_used(tree: ast.AST) -> set[str]:
    """``self.ui.X`` and ``ui.X`` (with ``ui = self.ui``) in the code."""
    names = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        value = node.value
        if isinstance(value, ast.Attribute) and value.attr == "ui" and isinstance(value.value, ast.Name) \
                and value.value.id == "self":
            names.add(node.attr)
        elif isinstance(value, ast.Name) and value.id == "ui":
            names.add(node.attr)
    return names


# --- the .ui ----------------------------------------------------------------------------------------------


def test_ui_is_well_formed_with_unique_names_and_known_classes():
    names = [widget.get("name") for widget in _ui().iter("widget")]
    assert len(names) == len(set(names)), sorted({name for name in names if names.count(name) > 1})
    unknown = {name: cls for name, cls in _ui_widgets().items() if cls not in KNOWN_WIDGET_CLASSES}
    assert unknown == {}
    declared = {custom.findtext("class") for custom in _ui().iter("customwidget")}
    used_custom = {cls for cls in _ui_widgets().values() if not cls.startswith("Q")}
    assert used_custom <= declared, f"declare in <customwidgets>: {sorted(used_custom - declared)}"
    for connection in _ui().iter("connection"):
        assert connection.findtext("receiver") in _ui_widgets()


def test_the_seven_steps_are_collapsible_sections_in_order():
    from StandardSegSlicer.presentation import STEPS

    sections = [widget.get("name") for widget in _ui().getroot().find("widget").iter("widget")
                if widget.get("class") == "ctkCollapsibleButton"]
    assert sections == STEP_SECTIONS + EXTRA_SECTIONS  # the seven steps first, then the extra sections
    sections = sections[:len(STEP_SECTIONS)]
    assert [name.removesuffix("CollapsibleButton") for name in sections] == list(STEPS)
    setup = next(node for node in ast.walk(_module_class("StandardSegWidget"))
                 if isinstance(node, ast.FunctionDef) and node.name == "setup")
    mapping = next(node.value for node in ast.walk(setup) if isinstance(node, ast.Assign)
                   and isinstance(node.targets[0], ast.Attribute) and node.targets[0].attr == "stepSections")
    assert [key.value for key in mapping.keys] == list(STEPS)
    assert [value.attr for value in mapping.values] == STEP_SECTIONS


def test_extra_sections_are_collapsed_and_call_the_library_as_the_cli_does():
    """The phantom and follow-up sections start collapsed, and their Qt-free logic imports the very functions
    cli/phantom_cmd.py, cli/compare_cmd.py and cli/agreement_cmd.py call (one science, two front ends)."""
    widgets = {widget.get("name"): widget for widget in _ui().iter("widget")}
    for name in EXTRA_SECTIONS:
        assert widgets[name].find("property[@name='collapsed']").findtext("bool") == "true", name

    def imported(path: Path) -> set[tuple[str, str]]:
        return {(node.module, alias.name) for node in ast.walk(_tree(path)) if isinstance(node, ast.ImportFrom)
                and node.module and node.module.startswith("StandardSegLib") for alias in node.names}

    cli = ROOT / "StandardSegLib" / "cli"
    pairs = [("phantom_cmd.py", "phantom_logic.py", {"analyse_phantom", "write_phantom_bundle", "ActivityArguments"}),
             ("compare_cmd.py", "followup_logic.py", {"compare_timepoints", "load_timepoint", "write_compare_bundle",
                                                      "protocol_for"}),
             ("agreement_cmd.py", "followup_logic.py",
              {"agreement_study", "parse_mask_spec", "write_agreement_bundle"})]
    for command, helper, names in pairs:
        by_cli = {pair for pair in imported(cli / command) if pair[1] in names}
        assert {pair[1] for pair in by_cli} == names, command
        assert by_cli <= imported(HELPERS_DIR / helper), f"{helper} does not call what {command} calls"


def test_gate_table_has_item_measured_threshold_verdict_columns():
    table = next(widget for widget in _ui().iter("widget") if widget.get("name") == "gateTable")
    columns = [column.find("property[@name='text']").findtext("string") for column in table.findall("column")]
    assert columns == ["Item", "Measured", "Threshold", "Verdict"]


# --- the widget against the .ui ---------------------------------------------------------------------------


def test_widget_uses_only_widgets_of_its_ui():
    used = _ui_names_used(_tree(MODULE_FILE))
    widgets = _ui_widgets()
    assert len(used) > 40, "the widget uses hardly any ui element?"
    assert used - widgets.keys() == set(), f"missing from the .ui: {sorted(used - widgets.keys())}"
    # Every interactive element of the .ui is wired (labels, layouts' containers and sections excepted).
    inert = {"QLabel", "ctkCollapsibleButton", "qMRMLWidget", "QTextBrowser"}
    unused = {name for name, cls in widgets.items() if cls not in inert and name not in used}
    bound = {widget.get("name") for widget in _ui().iter("widget") if _string_property(widget, "SlicerParameterName")}
    assert unused - bound == set(), f"widgets nothing reads or binds: {sorted(unused - bound)}"


def test_parameter_node_fields_match_the_ui_bindings():
    wrapper = _module_class("StandardSegParameterNode")
    assert any(isinstance(d, ast.Name) and d.id == "parameterNodeWrapper" for d in wrapper.decorator_list)
    fields = {}
    for node in wrapper.body:
        if isinstance(node, ast.AnnAssign):
            annotation = node.annotation
            if isinstance(annotation, ast.Subscript):  # Annotated[type, ...]
                annotation = annotation.slice.elts[0]
            fields[node.target.id] = ast.unparse(annotation)
    bindings = {}
    for widget in _ui().iter("widget"):
        parameter = _string_property(widget, "SlicerParameterName")
        if parameter:
            assert parameter not in bindings, f"{parameter} bound twice"
            bindings[parameter] = widget
    assert bindings.keys() <= fields.keys(), f"not in the parameter node: {sorted(bindings.keys() - fields.keys())}"
    assert fields.keys() - bindings.keys() == BOUND_BY_HAND
    for parameter, widget in bindings.items():
        cls, annotation = widget.get("class"), fields[parameter]
        if cls == "qMRMLNodeComboBox":
            node_types = [text.text for text in widget.find("property[@name='nodeTypes']").iter("string")]
            assert node_types == [annotation], f"{widget.get('name')} lists {node_types}, parameter is {annotation}"
        else:
            assert annotation in CONNECTABLE.get(cls, set()), f"connectGui cannot bind {cls} to {annotation}"


def test_ui_strings_are_translatable():
    """UI text goes through tr() (``_``): no bare string literal is shown to the reader."""
    for path in (MODULE_FILE, HELPERS_DIR / "feedback.py"):
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                for target in node.targets:
                    assert not (isinstance(target, ast.Attribute) and target.attr in UI_TEXT_ATTRIBUTES), \
                        f"{path.name}:{node.lineno}: untranslated {target.attr}"
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr in DISPLAY_FUNCTIONS and node.args:
                first = node.args[0]
                assert not (isinstance(first, ast.Constant) and isinstance(first.value, str)), \
                    f"{path.name}:{node.lineno}: untranslated {node.func.attr} text"


def test_segment_editor_is_limited_to_the_protocol_effects():
    source = MODULE_FILE.read_text(encoding="utf-8")
    assert "setEffectNameOrder(protocol.editor_effects" in source
    assert "unorderedEffectsVisible = False" in source
    from StandardSegLib.protocols import load_library

    for protocol in load_library().all():
        assert set(protocol.editor_effects) <= SLICER_EFFECTS, (protocol.id, set(protocol.editor_effects) - SLICER_EFFECTS)


# --- the module file's structure --------------------------------------------------------------------------


def test_module_has_the_four_classes_and_its_metadata():
    classes = {node.name for node in _tree(MODULE_FILE).body if isinstance(node, ast.ClassDef)}
    assert {"StandardSeg", "StandardSegWidget", "StandardSegLogic", "StandardSegTest", "StandardSegParameterNode"} <= classes
    init = next(node for node in _module_class("StandardSeg").body if isinstance(node, ast.FunctionDef))
    assigned = {target.attr for node in ast.walk(init) if isinstance(node, ast.Assign)
                for target in node.targets if isinstance(target, ast.Attribute)}
    assert {"title", "categories", "dependencies", "contributors", "helpText", "acknowledgementText"} <= assigned
    source = MODULE_FILE.read_text(encoding="utf-8")
    assert 'README_URL = "https://github.com/standardseg/StandardSeg#readme"' in source
    assert "<a href=\"{url}\">README</a>" in source


def test_library_is_imported_lazily():
    """Loading the module must not need StandardSegLib's packages: they are installed on first use."""
    for path in [MODULE_FILE, *_helper_files()]:
        for node in _tree(path).body:
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                continue
            assert not any(module.startswith("StandardSegLib") for module in modules), f"{path.name}:{node.lineno}"
    top_level = {alias.name.split(".")[0] for node in _tree(MODULE_FILE).body if isinstance(node, ast.Import)
                 for alias in node.names}
    top_level |= {node.module.split(".")[0] for node in _tree(MODULE_FILE).body if isinstance(node, ast.ImportFrom)}
    assert top_level <= {"html", "logging", "os", "pathlib", "sys", "typing", "qt", "slicer", "vtk", "StandardSegSlicer"}


def _library_imports() -> dict[str, set[str]]:
    """Every ``StandardSegLib``/``StandardSegSlicer`` module the module file and its helpers import -> names."""
    imports: dict[str, set[str]] = {}
    for path in [MODULE_FILE, *_helper_files()]:
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in (
                    "StandardSegLib", "StandardSegSlicer"):
                imports.setdefault(node.module, set()).update(alias.name for alias in node.names)
    return imports


@pytest.mark.mrml
def test_imported_library_pieces_exist_and_import():
    pytest.importorskip("slicer", reason="slicer-core is not installed")
    imports = _library_imports()
    assert {"StandardSegLib.mrml.guided_session", "StandardSegLib.mrml.scene", "StandardSegLib.mrml.scene_demo",
            "StandardSegLib.mrml.segments", "StandardSegLib.errors"} <= imports.keys()
    for module_name, names in imports.items():
        module = importlib.import_module(module_name)
        missing = {name for name in names if not hasattr(module, name)}
        assert missing == set(), f"{module_name} has no {sorted(missing)}"


# --- calls into GuidedSession -----------------------------------------------------------------------------


def _session_calls() -> list[tuple[str, str, ast.AST]]:
    """(file, attribute, node) for every attribute read on a GuidedSession in the logic and the widget:
    ``self.session.X``, ``session.X`` (a local holding it), ``self.requireSession().X`` and
    ``GuidedSession.X``."""
    uses = []
    for path in (HELPERS_DIR / "session_logic.py", MODULE_FILE):
        for node in ast.walk(_tree(path)):
            if not isinstance(node, ast.Attribute):
                continue
            value = node.value
            is_session = (
                (isinstance(value, ast.Attribute) and value.attr == "session")
                or (isinstance(value, ast.Name) and value.id in ("session", "GuidedSession"))
                or (isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute)
                    and value.func.attr == "requireSession"))
            if is_session:
                uses.append((path.name, node.attr, node))
    return uses


def _instance_attributes(cls: type) -> set[str]:
    """Attributes a GuidedSession instance has: its class's plus those ``__init__`` assigns."""
    init = ast.parse(textwrap.dedent(inspect.getsource(cls.__init__)))
    assigned = {target.attr for node in ast.walk(init) if isinstance(node, (ast.Assign, ast.AnnAssign))
                for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
                if isinstance(target, ast.Attribute)}
    return set(dir(cls)) | assigned


@pytest.mark.mrml
def test_guided_session_has_every_attribute_the_module_uses():
    pytest.importorskip("slicer", reason="slicer-core is not installed")
    from StandardSegLib.mrml.guided_session import GuidedSession

    available = _instance_attributes(GuidedSession)
    uses = _session_calls()
    assert len(uses) > 25
    missing = sorted({(file, attribute) for file, attribute, _node in uses if attribute not in available})
    assert missing == [], f"GuidedSession lacks {missing}"


@pytest.mark.mrml
def test_guided_session_methods_accept_the_arguments_they_get():
    """Each call ``session.method(a, b, key=...)`` binds to the method's signature."""
    pytest.importorskip("slicer", reason="slicer-core is not installed")
    from StandardSegLib.mrml.guided_session import GuidedSession

    parents = {}
    for path in (HELPERS_DIR / "session_logic.py", MODULE_FILE):
        for node in ast.walk(_tree(path)):
            for child in ast.iter_child_nodes(node):
                parents[child] = node
    checked = 0
    for file, attribute, node in _session_calls():
        call = parents.get(node)
        if not (isinstance(call, ast.Call) and call.func is node):
            continue
        method = getattr(GuidedSession, attribute)
        if isinstance(inspect.getattr_static(GuidedSession, attribute), (staticmethod, classmethod)):
            signature = inspect.signature(method)
        else:
            signature = inspect.signature(method)
            signature = signature.replace(parameters=list(signature.parameters.values())[1:])
        keywords = {keyword.arg: None for keyword in call.keywords if keyword.arg}
        try:
            signature.bind(*[None] * len(call.args), **keywords)
        except TypeError as error:
            pytest.fail(f"{file}:{call.lineno}: {attribute}{signature} cannot take this call: {error}")
        checked += 1
    assert checked > 15


@pytest.mark.mrml
def test_panel_steps_are_the_sessions_steps():
    pytest.importorskip("slicer", reason="slicer-core is not installed")
    from StandardSegLib.mrml.guided_session import STEPS as SESSION_STEPS
    from StandardSegSlicer.presentation import STEPS

    assert STEPS == SESSION_STEPS


def test_self_test_runs_the_scene_demo_and_checks_provenance():
    test_class = _module_class("StandardSegTest")
    imported = {alias.name for node in ast.walk(test_class) if isinstance(node, ast.ImportFrom) for alias in node.names}
    assert {"run_scene_demo", "provenance_tags"} <= imported
    methods = {node.name for node in test_class.body if isinstance(node, ast.FunctionDef)}
    run_test = next(node for node in test_class.body if isinstance(node, ast.FunctionDef) and node.name == "runTest")
    called = {node.func.attr for node in ast.walk(run_test) if isinstance(node, ast.Call)
              and isinstance(node.func, ast.Attribute)}
    assert {name for name in methods if re.match(r"test_", name)} <= called, "runTest skips a test method"


@pytest.mark.mrml
def test_failed_lesions_table_shows_what_was_tried_and_why():
    """The Qt panel's table under the segment list, from the session's failed lesions (one row per name)."""
    pytest.importorskip("slicer", reason="slicer-core is not installed")
    from StandardSegSlicer.presentation import failed_lesion_rows

    from StandardSegLib.mrml.guided_session import FailedLesion
    from StandardSegLib.session import LesionJob

    tried = FailedLesion(LesionJob("cold", seeds=((-12.26, 3.0, 40.04),), method="pet-suv"), "pet-suv",
                         "no voxel connected to the seed passes")
    assert failed_lesion_rows([tried.to_dict()]) == [
        {"lesion": "cold", "method": "pet-suv", "stage": "segment", "reason": "no voxel connected to the seed passes",
         "seeds (LPS mm)": "(-12.3, 3.0, 40.0)"}]
