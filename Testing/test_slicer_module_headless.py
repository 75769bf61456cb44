"""The Slicer module's Python run outside the desktop application.

- ``StandardSegSlicer`` (console API, dependencies, presentation, error reporting) is plain Python: it runs
  here on a headless MRML scene (slicer-core) and with a fake ``slicer.app`` where it would show dialogs.
- ``StandardSeg.py`` itself needs Slicer's application layer (ScriptedLoadableModule, parameterNodeWrapper,
  i18n, qt); those are replaced by minimal stand-ins, so the module loads as in Slicer - without importing
  the library - and its self-test runs on a headless scene, asserting on real results.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import sys
import types
import typing
import unittest
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULE_FILE = ROOT / "StandardSeg" / "StandardSeg.py"
if str(ROOT / "StandardSeg") not in sys.path:  # StandardSegSlicer sits beside the module file, as in Slicer
    sys.path.insert(0, str(ROOT / "StandardSeg"))

from StandardSegSlicer import dependencies, presentation  # noqa: E402


# --- dependencies ------------------------------------------------------------------------------------------


def test_slicer_installs_the_pinned_packages_it_lacks_and_nothing_else():
    pins = dependencies.read_pins(dependencies.find_constraints([ROOT / "StandardSeg", ROOT]))
    keys = {pin.key for pin in pins}
    for group in (dependencies.PROVIDED_BY_SLICER, dependencies.TEST_ONLY, dependencies.BUILD_HELPERS,
                  dependencies.NO_BUILD_ISOLATION, dependencies.WEB_PANEL_ONLY):
        assert group <= keys, f"no longer pinned in constraints.txt: {sorted(group - keys)}"
    wanted = {pin.key for pin in dependencies.slicer_requirements(pins)}
    assert {"highdicom", "pyyaml", "jsonschema", "pyradiomics", "pywavelets"} <= wanted
    skipped = (dependencies.PROVIDED_BY_SLICER | dependencies.TEST_ONLY | dependencies.BUILD_HELPERS
               | dependencies.WEB_PANEL_ONLY)
    assert "slicer-core" not in wanted and "trame-slicer" not in wanted
    assert wanted == keys - skipped


def test_every_library_dependency_is_provided_by_slicer_or_installed():
    tomllib = pytest.importorskip("tomllib")
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    names = {dependencies.canonical_name(dependencies.re.split(r"[<>=!~ \[;]", entry, 1)[0]) for entry in declared}
    pins = dependencies.read_pins(ROOT / "requirements" / "constraints.txt")
    covered = dependencies.PROVIDED_BY_SLICER | {pin.key for pin in dependencies.slicer_requirements(pins)}
    assert names <= covered, sorted(names - covered)


def test_pins_are_read_exactly(tmp_path):
    path = tmp_path / "constraints.txt"
    path.write_text("# comment\nPyYAML==6.0.3  # why\n\nnumpy==2.2.6\n", encoding="utf-8")
    assert [(pin.name, pin.version, pin.key) for pin in dependencies.read_pins(path)] == [
        ("PyYAML", "6.0.3", "pyyaml"), ("numpy", "2.2.6", "numpy")]
    path.write_text("PyYAML>=6\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"constraints.txt:1: expected NAME==VERSION"):
        dependencies.read_pins(path)
    with pytest.raises(FileNotFoundError, match="reinstall the extension"):
        dependencies.find_constraints([tmp_path / "nowhere"])


def test_missing_means_not_installed_at_the_pinned_version():
    pins = [dependencies.Pin("PyYAML", "6.0.3"), dependencies.Pin("highdicom", "0.28.2"), dependencies.Pin("x", "1")]
    installed = {"PyYAML": "6.0.3", "highdicom": "0.27.0"}
    assert [pin.name for pin in dependencies.missing(pins, installed.get)] == ["highdicom", "x"]
    message = dependencies.install_message([dependencies.Pin("pyradiomics", "3.0.1")])
    assert "pyradiomics==3.0.1" in message and "C compiler" in message


class _FakeSlicer:
    """What ``ensure_installed`` touches of ``slicer``: app, util dialogs and pip, optionally packaging."""

    def __init__(self, installed, confirm=True, testing=False, with_packaging=False):
        self.installed, self.calls = installed, []
        self.app = SimpleNamespace(testingEnabled=lambda: testing)
        self.util = SimpleNamespace(confirmOkCancelDisplay=self._confirm(confirm), pip_install=self._pip_install)
        if with_packaging:
            self.packaging = SimpleNamespace(pip_ensure=self._pip_ensure)

    def _confirm(self, answer):
        def confirm(text, windowTitle=None):
            self.calls.append(("confirm", text))
            return answer
        return confirm

    def _install(self, requirements):
        for requirement in requirements:
            if "==" in requirement:
                name, version = requirement.split("==")
                self.installed[name] = version
            elif not requirement.startswith("-"):
                self.installed[requirement] = "1"

    def _pip_install(self, requirements):
        self.calls.append(("pip_install", list(requirements)))
        self._install(requirements)

    def _pip_ensure(self, requirements, **options):
        self.calls.append(("pip_ensure", list(requirements), options))
        self._install(requirements)


def _use_fake_slicer(monkeypatch, fake):
    monkeypatch.setitem(sys.modules, "slicer", fake)
    monkeypatch.setattr(dependencies, "installed_version", fake.installed.get)


def test_install_asks_first_then_builds_pyradiomics_without_isolation(monkeypatch):
    fake = _FakeSlicer(installed={"numpy": "2.2.6"})
    _use_fake_slicer(monkeypatch, fake)
    assert dependencies.ensure_installed([ROOT])
    kinds = [call[0] for call in fake.calls]
    assert kinds[0] == "confirm" and kinds.count("confirm") == 1
    pip_calls = [call[1] for call in fake.calls if call[0] == "pip_install"]
    assert pip_calls[0] == ["versioneer", "wheel"]  # build helpers first, only because pyradiomics is built
    assert pip_calls[-1] == ["--no-build-isolation", "pyradiomics==3.0.1"]
    plain = pip_calls[1]
    assert "highdicom==0.28.2" in plain and "PyYAML==6.0.3" in plain
    assert not any(name.startswith(("numpy", "SimpleITK", "pydicom", "vtk", "slicer-core", "pytest")) for name in plain)


def test_install_uses_pip_ensure_when_slicer_has_it(monkeypatch):
    fake = _FakeSlicer(installed={"versioneer": "0.29", "wheel": "0.45.1"}, with_packaging=True)
    _use_fake_slicer(monkeypatch, fake)
    assert dependencies.ensure_installed([ROOT])
    ensure = next(call for call in fake.calls if call[0] == "pip_ensure")
    assert ensure[2] == {"requester": "StandardSeg", "prompt_install": False, "skip_in_testing": False}
    assert [call[1] for call in fake.calls if call[0] == "pip_install"] == [["--no-build-isolation", "pyradiomics==3.0.1"]]


def test_nothing_is_installed_when_the_reader_declines_or_all_is_there(monkeypatch):
    fake = _FakeSlicer(installed={}, confirm=False)
    _use_fake_slicer(monkeypatch, fake)
    assert not dependencies.ensure_installed([ROOT])
    assert [call[0] for call in fake.calls] == ["confirm"]

    pins = dependencies.slicer_requirements(dependencies.read_pins(ROOT / "requirements" / "constraints.txt"))
    complete = _FakeSlicer(installed={pin.name: pin.version for pin in pins})
    _use_fake_slicer(monkeypatch, complete)
    assert dependencies.ensure_installed([ROOT]) and complete.calls == []


# --- presentation ------------------------------------------------------------------------------------------


def test_steps_after_an_incomplete_required_step_are_disabled():
    assert [state.enabled for state in presentation.step_states(None)] == [True] + [False] * 6
    status = {"study": "done", "check": "done", "display": "todo", "reference": "done", "segment": "todo",
              "validate": "blocked", "report": "blocked"}
    states = presentation.step_states(status)
    assert [state.enabled for state in states] == [True, True, True, False, False, False, False]
    assert states[3].reason == "complete step 'display' first"
    done = dict(status, display="done", segment="done", validate="todo", report="todo")
    assert all(state.enabled for state in presentation.step_states(done))  # validation is optional
    blocked = dict(done, check="blocked")
    assert [state.enabled for state in presentation.step_states(blocked)] == [True, False] + [False] * 5


def test_values_and_gate_rows_are_formatted_for_the_table():
    assert presentation.format_value(None) == "\u2014"
    assert presentation.format_value(60.0, "min") == "60 min"
    assert presentation.format_value([55.0, 75.0], "min") == "55\u201375 min"
    assert presentation.format_value(["ATTN", "DECY"]) == "ATTN, DECY"
    assert presentation.format_value(3.14159265) == "3.142"
    item = SimpleNamespace(id="snr", kind="metric", verdict="warn", measured=4.25, threshold=5, unit=None,
                           rule="SNR >= 5", message="SNR 4.25 below 5", source="protocol")
    (row,) = presentation.gate_rows([item])
    assert (row.item, row.measured, row.threshold, row.verdict) == ("snr (metric)", "4.25", "5", "warn")
    assert row.tooltip == "SNR >= 5\nSNR 4.25 below 5\nprotocol"
    assert set(presentation.VERDICT_COLORS) == {"pass", "warn", "fail"}
    failed = SimpleNamespace(overall="fail", allows_segmentation=False, override=None)
    assert "override with a written reason" in presentation.gate_summary(failed)
    overridden = SimpleNamespace(overall="fail", allows_segmentation=True,
                                 override=SimpleNamespace(operator="Dr A", reason="phantom study"))
    assert presentation.gate_summary(overridden) == "Overall: FAIL. Overridden by Dr A: phantom study"


def test_reference_deviation_and_validation_texts():
    reference = {"name": "liver", "roi": "sphere", "units": "SUVbw", "voxel_count": 120, "volume_ml": 14.1,
                 "mean": 2.0, "sd": 0.2, "median": 2.01}
    assert presentation.reference_text(reference).splitlines() == [
        "liver: sphere", "mean: 2 SUVbw", "sd: 0.2 SUVbw", "median: 2.01 SUVbw", "voxels: 120 (14.1 mL)"]
    assert presentation.reference_text(None).startswith("No reference tissue measured yet")
    deviation = {"timestamp": "12:00:00", "preset": "liver", "unit": "HU", "requested_window": 400.0,
                 "requested_level": 40.0, "applied_window": 150.0, "applied_level": 90.0, "action": "reverted"}
    assert presentation.deviation_text(deviation) == \
        "12:00:00 liver: requested W 400 / L 40 HU; reverted, shown W 150 / L 90"
    assert presentation.table_columns([{"segment": "a", "dice": 1.0}, {"segment": "b", "jaccard": 0.5}]) == [
        "segment", "dice", "jaccard"]
    sphere = SimpleNamespace(center_lps=(1.0, -2.25, 3.0), diameter_mm=30.0)
    assert presentation.sphere_text(sphere) == "centre (1.0, -2.2, 3.0) mm LPS, diameter 30 mm"


def test_protocol_summary_names_presets_with_their_source():
    from StandardSegLib.protocols import load_library

    protocol = load_library().get("fdg-pet-ct-oncology")
    text = presentation.protocol_summary_html(protocol)
    assert protocol.content_sha256[:12] in text
    for name, preset in protocol.window_presets.items():
        assert name in text and preset.source.split("(")[0].strip()[:20] in text


# --- errors shown to the reader ----------------------------------------------------------------------------


def test_input_errors_are_one_line_without_traceback(monkeypatch):
    from StandardSegLib.errors import InputError
    from StandardSegSlicer import feedback

    shown = []
    fake = types.ModuleType("slicer")
    fake.app = SimpleNamespace(testingEnabled=lambda: False)
    fake.util = SimpleNamespace(errorDisplay=lambda text, **options: shown.append((text, options)))
    i18n = types.ModuleType("slicer.i18n")
    i18n.tr = lambda text: text
    monkeypatch.setitem(sys.modules, "slicer", fake)
    monkeypatch.setitem(sys.modules, "slicer.i18n", i18n)
    with feedback.report_errors("Failed to load the image."):
        raise InputError("scan.nrrd: not an image")
    assert shown == [("Failed to load the image.\n\nscan.nrrd: not an image", {"windowTitle": "StandardSeg"})]
    with feedback.report_errors("Failed."):
        raise feedback.Cancelled("Loading")
    assert len(shown) == 1  # a cancelled task is no error


# --- the console API on a headless scene -------------------------------------------------------------------


@pytest.fixture
def session_logic(mrml_context):
    from StandardSegSlicer.session_logic import GuidedSessionLogic

    return GuidedSessionLogic([ROOT / "StandardSeg", ROOT], mrml_context)


@pytest.mark.mrml
def test_calls_before_a_session_say_what_to_do_first(session_logic, tmp_path):
    from StandardSegLib.errors import InputError

    assert session_logic.status() is None and session_logic.gate() is None and session_logic.roiDescriptions() == {}
    with pytest.raises(InputError, match="no StandardSeg session: start one"):
        session_logic.checkImage()
    with pytest.raises(InputError, match="choose an output folder"):
        session_logic.newReportFolder(Path())
    folder = session_logic.newReportFolder(tmp_path / "out", dt.datetime(2026, 1, 2, 3, 4, 5))
    assert folder == tmp_path / "out" / "report-20260102-030405" and folder.parent.is_dir() and not folder.exists()
    assert session_logic.nextLesionName("lesion-1") == "lesion-2" and session_logic.nextLesionName("liver") == "liver-2"
    assert session_logic.missingDependencies() == []


@pytest.mark.mrml
def test_console_api_walks_the_seven_steps(session_logic, synthetic_study_files, synthetic_study, registry, tmp_path):
    """load -> ROIs -> check -> preset -> segment -> validate -> report -> .mrb, through the camelCase API."""
    from StandardSegLib.errors import InputError
    from StandardSegLib.mrml.segments import provenance_tags

    files = synthetic_study_files
    layout = synthetic_study.layout
    largest = max(layout.spheres, key=lambda sphere: sphere.diameter_mm)
    assert session_logic.operatorNames(registry) == ["Dr Demo"]
    assert session_logic.trainingStatus("fdg-pet-ct-oncology", "Dr Demo", registry).verdict == "pass"

    session_logic.startSession("fdg-pet-ct-oncology", "Dr Demo", registry=str(registry))
    session_logic.loadImage(files.pet_dicom[0].parent)
    x, y, z = largest.centre_lps_mm
    session_logic.placeRoiAtRas("lesion", (-x, -y, z), largest.diameter_mm)  # a click in the view is RAS
    session_logic.placeRoi("background", layout.liver_reference.centre_lps_mm, referenceTissue="liver")
    assert session_logic.roiDescriptions()["lesion"] == (
        f"centre ({x:.1f}, {y:.1f}, {z:.1f}) mm LPS, diameter {largest.diameter_mm:g} mm")
    assert session_logic.segmentationNode() is None  # not before the check allows segmenting

    gate = session_logic.checkImage(referenceTissue="liver")
    assert gate.verdict.overall == "pass" and session_logic.gate() is gate
    assert session_logic.referenceMeasurement().name == "liver"
    session_logic.holdWindowPreset()
    assert session_logic.valuesNode().GetName().endswith("SUVbw")
    assert session_logic.allowedMethods() == session_logic.session.allowed_methods()

    seeds = session_logic.context().scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "seeds")
    seeds.AddControlPoint(-x, -y, z)
    segmentation = session_logic.segmentationNode()
    assert segmentation is not None and segmentation is session_logic.session.segmentation_node
    segment_id = session_logic.segmentLesion("lesion-1", session_logic.seedsFromMarkup(seeds))
    assert session_logic.backgroundSeedsFromMarkup(None) == []  # optional: grow-from-seeds only
    background = session_logic.context().scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "background seeds")
    assert session_logic.backgroundSeedsFromMarkup(background) == []
    background.AddControlPoint(-x - 40.0, -y, z)  # RAS, 40 mm to the patient's left of the lesion
    assert list(session_logic.backgroundSeedsFromMarkup(background)) == [pytest.approx((x + 40.0, y, z))]
    tags = provenance_tags(segmentation, segment_id)
    assert tags["StandardSeg.method"] == session_logic.session.protocol.default_segmentation_method
    with pytest.raises(InputError, match="select a reference"):
        session_logic.validate(None)
    # an expert RTSTRUCT holding two ROIs: the panel lists them, the chosen one is the reference
    from rtstruct_factory import sphere_contours, write_structure_set

    image = session_logic.session.loaded.image
    frame = str(session_logic.session.loaded.datasets[0].FrameOfReferenceUID)
    structure_set = write_structure_set(tmp_path / "RS.dcm", {
        "Body": sphere_contours(image, np.asarray(largest.centre_lps_mm), largest.diameter_mm),
        "GTV": sphere_contours(image, np.asarray(largest.centre_lps_mm), largest.diameter_mm / 2)}, frame=frame)
    assert session_logic.referenceRoiNames(structure_set) == ["Body", "GTV"]
    assert session_logic.referenceRoiNames(files.pet_suv_nrrd) == []
    with pytest.raises(InputError, match="holds 2 ROIs"):
        session_logic.validate(str(structure_set))
    [row] = session_logic.validate(str(structure_set), "GTV")
    assert row["reference"] == "RS.dcm/GTV" and row["dice"] > 0.5

    bundle = session_logic.exportReport(session_logic.newReportFolder(tmp_path / "reports"))
    assert (bundle.path / "report.json").is_file() and bundle.path.parent == tmp_path / "reports"
    saved = session_logic.saveScene(tmp_path / "session.mrb")
    assert saved.is_file()
    assert session_logic.status() == {"study": "done", "check": "done", "display": "done", "reference": "done",
                                      "segment": "done", "validate": "done", "report": "done"}
    assert all(state.enabled for state in presentation.step_states(session_logic.status()))
    # The follow-up section compares the session's exported bundle: against itself it is comparable, no change.
    from StandardSegSlicer.followup_logic import compareBundles, lesionChangeRows, sessionBundle

    assert sessionBundle(session_logic.session) == bundle.path
    document, _target = compareBundles(bundle.path, sessionBundle(session_logic.session), tmp_path / "followup")
    assert document["comparability"]["verdict"] == "comparable" and document["comparability"]["differences"] == []
    changes = lesionChangeRows(document)
    assert {row["baseline lesion"] for row in changes} == {"lesion-1"} and all(row["change"] == 0 for row in changes)
    session_logic.endSession()
    assert session_logic.session is None


# --- StandardSeg.py with Slicer's application layer stood in for ------------------------------------------


@dataclass
class _Default:
    value: typing.Any


class _WithinRange:
    def __init__(self, minimum, maximum):
        self.minimum, self.maximum = minimum, maximum


def _parameter_node_wrapper(cls):
    """Resolve the annotations as the real wrapper does (``typing.get_type_hints``), keep them, wrap a node."""
    cls.allParameters = typing.get_type_hints(cls, include_extras=True)

    def __init__(self, parameterNode):
        self.parameterNode = parameterNode

    cls.__init__ = __init__
    return cls


@pytest.fixture
def module(monkeypatch, tmp_path):
    """StandardSeg.py loaded with stand-ins for qt, slicer.i18n, ScriptedLoadableModule, parameterNodeWrapper
    and ``slicer.app`` (testing mode)."""
    slicer = pytest.importorskip("slicer", reason="slicer-core is not installed")
    stand_ins = {
        "qt": types.ModuleType("qt"),
        "slicer.i18n": types.ModuleType("slicer.i18n"),
        "slicer.ScriptedLoadableModule": types.ModuleType("slicer.ScriptedLoadableModule"),
        "slicer.parameterNodeWrapper": types.ModuleType("slicer.parameterNodeWrapper"),
    }
    stand_ins["slicer.i18n"].tr = lambda text: text
    stand_ins["slicer.i18n"].translate = lambda context, text: text

    class ScriptedLoadableModule:
        def __init__(self, parent):
            self.parent = parent

    class ScriptedLoadableModuleWidget:
        def __init__(self, parent=None):
            self.parent = parent

    class ScriptedLoadableModuleLogic:
        def __init__(self, parent=None):
            pass

    class ScriptedLoadableModuleTest(unittest.TestCase):
        def delayDisplay(self, message, msec=None):
            pass

    for base in (ScriptedLoadableModule, ScriptedLoadableModuleWidget, ScriptedLoadableModuleLogic,
                 ScriptedLoadableModuleTest):
        setattr(stand_ins["slicer.ScriptedLoadableModule"], base.__name__, base)
    wrapper = stand_ins["slicer.parameterNodeWrapper"]
    wrapper.Default, wrapper.WithinRange, wrapper.parameterNodeWrapper = _Default, _WithinRange, _parameter_node_wrapper
    for name, stand_in in stand_ins.items():
        monkeypatch.setitem(sys.modules, name, stand_in)
        if name.startswith("slicer."):
            monkeypatch.setattr(slicer, name.split(".", 1)[1], stand_in, raising=False)
    monkeypatch.setattr(slicer, "app", SimpleNamespace(testingEnabled=lambda: True, temporaryPath=str(tmp_path)),
                        raising=False)

    library_before = {name for name in sys.modules if name.startswith("StandardSegLib")}
    spec = importlib.util.spec_from_file_location("StandardSeg_under_test", MODULE_FILE)
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    loaded.library_imported_at_load = {name for name in sys.modules if name.startswith("StandardSegLib")} - library_before
    return loaded


@pytest.mark.mrml
def test_module_loads_without_the_library_and_describes_itself(module):
    assert module.library_imported_at_load == set()
    parent = SimpleNamespace()
    module.StandardSeg(parent)
    assert parent.title == "StandardSeg" and parent.categories == ["Quantification"]
    assert module.README_URL in parent.helpText and "ESR/EORTC" in parent.acknowledgementText
    hints = module.StandardSegParameterNode.allParameters
    assert hints["inputVolume"].__name__ == "vtkMRMLScalarVolumeNode"
    assert typing.get_args(hints["lesionRoiDiameterMm"])[0] is float


@pytest.mark.mrml
def test_module_logic_is_the_console_api_with_a_parameter_node(module, mrml_context):
    logic = module.StandardSegLogic(context=mrml_context)
    assert logic.context() is mrml_context and logic.session is None
    assert [protocol.id for protocol in logic.protocols()] == [protocol.id for protocol in
                                                               logic._protocolLibrary().all()]
    assert logic.protocol("ct-liver-lesion").id == "ct-liver-lesion"


@pytest.mark.mrml
def test_self_test_passes_on_a_headless_scene(module, monkeypatch, tmp_path):
    """The in-Slicer self-test's assertions hold on the scene demo's real results (run headless here; only
    ``MRMLContext.from_slicer_app`` and two desktop-only ``slicer.util`` helpers are replaced)."""
    import numpy as np
    import SimpleITK as sitk
    import slicer

    from StandardSegLib.mrml.scene import MRMLContext
    from StandardSegLib.mrml.segments import mask_from_segment

    context = MRMLContext.headless()
    monkeypatch.setattr(MRMLContext, "from_slicer_app", classmethod(lambda cls: context))

    def temp_directory(key="__SlicerTemp__", **_options):
        path = tmp_path / key
        path.mkdir()
        return str(path)

    def array_from_segment(segmentation, segment_id, reference):
        return sitk.GetArrayFromImage(mask_from_segment(segmentation, segment_id, reference)).astype(np.uint8)

    monkeypatch.setattr(slicer.util, "tempDirectory", temp_directory)
    monkeypatch.setattr(slicer.util, "arrayFromSegmentBinaryLabelmap", array_from_segment, raising=False)
    try:
        module.StandardSegTest("test_guidedSessionOnGeneratedStudy").test_guidedSessionOnGeneratedStudy()
    finally:
        context.scene.Clear(True)
