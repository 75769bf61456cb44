"""The window-preset hold on a real display node: changes inside the range are kept, changes outside are
reverted to the nearest allowed setting or logged, as the protocol says."""

from __future__ import annotations

import numpy as np
import pytest

from StandardSegLib.errors import InputError
from StandardSegLib.protocols import load_library

pytestmark = pytest.mark.mrml
LIBRARY = load_library()
LIVER = LIBRARY.get("ct-liver-lesion").window_presets["liver"]  # W 150 / L 90, W 120-200, L 60-110
PET = LIBRARY.get("fdg-pet-ct-oncology").window_presets["whole-body"]  # SUV 0-5, upper 3-15


def _volume(context, values):
    import slicer

    node = context.scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode")
    slicer.util.updateVolumeFromArray(node, values)
    node.CreateDefaultDisplayNodes()
    return node


def _display(node):
    display = node.GetDisplayNode()
    return display.GetWindow(), display.GetLevel()


def test_changes_inside_the_range_are_kept_without_deviation(mrml_context):
    from StandardSegLib.mrml.window_hold import WindowPresetHold

    node = _volume(mrml_context, np.zeros((4, 4, 4), np.int16))
    hold = WindowPresetHold(node, LIVER, on_change="revert")
    assert _display(node) == pytest.approx((150.0, 90.0))
    node.GetDisplayNode().SetWindowLevel(180.0, 100.0)
    assert _display(node) == pytest.approx((180.0, 100.0))
    assert hold.deviations == []


def test_revert_clamps_to_the_nearest_allowed_setting_and_records_it(mrml_context):
    from StandardSegLib.mrml.window_hold import WindowPresetHold

    node = _volume(mrml_context, np.zeros((4, 4, 4), np.int16))
    hold = WindowPresetHold(node, LIVER, on_change="revert")
    node.GetDisplayNode().SetWindowLevel(400.0, 40.0)  # soft-tissue window: outside the liver SOP
    assert _display(node) == pytest.approx((200.0, 60.0))  # nearest corner of W 120-200 x L 60-110
    (deviation,) = hold.deviations
    assert deviation.action == "reverted" and deviation.preset == "liver" and deviation.unit == "HU"
    assert (deviation.requested_window, deviation.requested_level) == pytest.approx((400.0, 40.0))
    assert (deviation.applied_window, deviation.applied_level) == pytest.approx((200.0, 60.0))
    hold.stop()
    node.GetDisplayNode().SetWindowLevel(400.0, 40.0)
    assert _display(node) == pytest.approx((400.0, 40.0)) and len(hold.deviations) == 1


def test_log_keeps_the_change_and_records_a_deviation(mrml_context):
    from StandardSegLib.mrml.window_hold import WindowPresetHold

    node = _volume(mrml_context, np.zeros((4, 4, 4), np.int16))
    hold = WindowPresetHold(node, LIVER, on_change="log")
    node.GetDisplayNode().SetWindowLevel(1400.0, -500.0)
    assert _display(node) == pytest.approx((1400.0, -500.0))
    assert [d.action for d in hold.deviations] == ["logged"]
    assert hold.deviations[0].to_dict()["requested_window"] == pytest.approx(1400.0)


def test_suv_preset_is_judged_in_suv(mrml_context):
    from StandardSegLib.mrml.window_hold import WindowPresetHold

    factor = 1.0 / 5000.0  # 5000 Bq/mL per SUV
    node = _volume(mrml_context, np.zeros((4, 4, 4), np.float32))
    hold = WindowPresetHold(node, PET, on_change="revert", suv_factor=factor)
    assert _display(node) == pytest.approx((5 * 5000.0, 2.5 * 5000.0))
    node.GetDisplayNode().SetWindowLevel(10 * 5000.0, 5 * 5000.0)  # SUV 0-10: allowed
    assert hold.deviations == []
    node.GetDisplayNode().SetWindowLevel(40 * 5000.0, 20 * 5000.0)  # SUV 0-40: upper beyond 15
    assert _display(node) == pytest.approx((15 * 5000.0, 7.5 * 5000.0))
    assert hold.deviations[0].requested_window == pytest.approx(40.0)


def test_percentile_preset_reads_percentiles_off_the_volume(mrml_context):
    from StandardSegLib.mrml.window_hold import WindowPresetHold

    preset = LIBRARY.get("mr-brain-tumour").default_window_preset  # percentiles 1-99; lower 0-5, upper 95-100
    # Intensities spread uniformly over 0..1000, so intensity = 10 x percentile.
    node = _volume(mrml_context, np.linspace(0, 1000, 7 * 11 * 13, dtype=np.float32).reshape(7, 11, 13))
    hold = WindowPresetHold(node, preset, on_change="log")
    assert _display(node) == pytest.approx((980.0, 500.0), rel=1e-3)  # intensities 10-990
    node.GetDisplayNode().SetWindowLevel(960.0, 500.0)  # 20-980 = percentiles 2-98: inside the ranges
    assert hold.deviations == []
    node.GetDisplayNode().SetWindowLevel(400.0, 500.0)  # 300-700 = percentiles 30-70: outside
    (deviation,) = hold.deviations
    assert (deviation.requested_window, deviation.requested_level) == pytest.approx((40.0, 50.0), abs=0.2)
    assert deviation.action == "logged" and deviation.unit == "percentile"


def test_unknown_on_change_and_missing_suv_factor_are_refused(mrml_context):
    from StandardSegLib.mrml.window_hold import WindowPresetHold

    node = _volume(mrml_context, np.zeros((2, 2, 2), np.float32))
    with pytest.raises(InputError, match="on_change"):
        WindowPresetHold(node, LIVER, on_change="ignore")
    with pytest.raises(InputError, match="SUV factor"):
        WindowPresetHold(node, PET, on_change="revert")
