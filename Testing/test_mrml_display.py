"""Window presets applied to real display nodes on a headless MRML scene."""

from __future__ import annotations

import numpy as np
import pytest

from StandardSegLib.errors import InputError
from StandardSegLib.protocols import load_library

pytestmark = pytest.mark.mrml
LIBRARY = load_library()


def _volume(context, values: np.ndarray):
    import slicer

    node = context.scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode")
    slicer.util.updateVolumeFromArray(node, values)
    node.CreateDefaultDisplayNodes()
    node.GetDisplayNode().SetAutoWindowLevel(1)
    return node


def test_ct_preset_sets_window_level_and_disables_auto(mrml_context):
    from StandardSegLib.mrml.display import apply_window_preset

    node = _volume(mrml_context, np.zeros((4, 5, 6), np.int16))
    preset = LIBRARY.get("ct-liver-lesion").window_presets["liver"]
    assert apply_window_preset(node, preset) == (preset.window, preset.level)
    display = node.GetDisplayNode()
    assert display.GetAutoWindowLevel() == 0
    assert (display.GetWindow(), display.GetLevel()) == pytest.approx((preset.window, preset.level))


def test_suv_preset_is_converted_to_stored_units(mrml_context):
    from StandardSegLib.mrml.display import apply_window_preset

    node = _volume(mrml_context, np.zeros((4, 5, 6), np.float32))
    preset = LIBRARY.get("fdg-pet-ct-oncology").window_presets["whole-body"]  # SUV 0-5
    factor = 1.0 / 3000.0  # 3000 Bq/mL per SUV
    window, level = apply_window_preset(node, preset, suv_factor=factor)
    assert (window, level) == pytest.approx((5 * 3000.0, 2.5 * 3000.0))
    assert node.GetDisplayNode().GetWindow() == pytest.approx(15000.0)
    with pytest.raises(InputError, match="SUV factor"):
        apply_window_preset(node, preset)


def test_percentile_preset_uses_the_volume_intensities(mrml_context):
    from StandardSegLib.mrml.display import apply_window_preset

    values = np.arange(1000, dtype=np.float32).reshape(10, 10, 10)
    node = _volume(mrml_context, values)
    preset = LIBRARY.get("mr-brain-tumour").default_window_preset
    window, level = apply_window_preset(node, preset)
    low, high = np.percentile(values, [preset.lower, preset.upper])
    assert (window, level) == pytest.approx((high - low, (high + low) / 2))
