"""Apply a protocol's window preset to a volume's display node.

The consensus asks for window/level ranges per organ to be enforced in the viewer (recommendation 3). A
preset is stated in HU (CT), SUVbw (PET) or percentiles (MR); the display node works in the volume's
stored units, so SUV windows are divided by the SUV factor (SUV = stored value x factor) and percentile
windows are resolved on the volume's own intensities. Automatic window/level is switched off first:
Slicer ignores ``SetWindowLevel`` while it is on.
"""

from __future__ import annotations

from typing import Any, Optional

import slicer

from StandardSegLib.errors import InputError
from StandardSegLib.protocols.window import WindowPreset


def preset_in_volume_units(volume_node: Any, preset: WindowPreset,
                           suv_factor: Optional[float] = None) -> tuple[float, float]:
    """The (window, level) of ``preset`` in the stored units of ``volume_node``."""
    if preset.unit == "HU":
        return preset.window, preset.level
    if preset.unit == "percentile":
        return preset.to_intensity_window(slicer.util.arrayFromVolume(volume_node))
    if preset.unit == "SUVbw":
        if not suv_factor or suv_factor <= 0:
            raise InputError(f"window preset '{preset.organ}' is in SUVbw: the volume's SUV factor is needed "
                             "(check the PET series first, e.g. 'standardseg inspect')")
        return preset.window / suv_factor, preset.level / suv_factor
    raise InputError(f"window preset '{preset.organ}': unknown unit {preset.unit!r}")


def apply_window_preset(volume_node: Any, preset: WindowPreset,
                        suv_factor: Optional[float] = None) -> tuple[float, float]:
    """Set the preset on the volume's display node (created if missing); returns (window, level) applied."""
    window, level = preset_in_volume_units(volume_node, preset, suv_factor)
    display_node = volume_node.GetDisplayNode()
    if display_node is None:
        volume_node.CreateDefaultDisplayNodes()
        display_node = volume_node.GetDisplayNode()
    display_node.SetAutoWindowLevel(0)
    display_node.SetWindowLevel(window, level)
    return window, level
