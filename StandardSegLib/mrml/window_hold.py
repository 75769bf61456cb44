"""Hold a protocol's window preset on a volume: detect reader changes, then revert or log them.

The consensus asks for window-level ranges per organ to be *enforced* (recommendation 3). A reader may
move the window freely inside the protocol's range. Leaving it is handled as the protocol's
``display.on_change`` says:

- ``revert``: the display is brought back to the nearest allowed setting (so a drag stops at the
  boundary of the range) and the attempt is recorded;
- ``log``: the change is kept and recorded as a deviation, which the report lists.

Changes are detected with an observer on the display node's ModifiedEvent, comparing window/level with the
last seen values (other display changes, e.g. the colour table, are ignored). Values are compared in the
preset's units: SUV = stored value x SUV factor; MR percentiles are read off the volume's intensities.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any, Callable, Optional

import numpy as np
import slicer
import vtk

from StandardSegLib.errors import InputError
from StandardSegLib.mrml.display import apply_window_preset
from StandardSegLib.protocols.window import WindowPreset

ON_CHANGE_ACTIONS = ("revert", "log")
#: Window/level changes smaller than this (relative) are float noise from the display node, not a reader.
_CHANGE_TOLERANCE = 1e-6
#: Resolution of the intensity-to-percentile lookup for MR presets (percent).
_PERCENTILE_STEP = 0.1


@dataclass(frozen=True)
class DisplayDeviation:
    """A reader's window/level outside the protocol range (values in the preset's unit)."""

    timestamp: str
    preset: str
    unit: str
    requested_window: float
    requested_level: float
    applied_window: float
    applied_level: float
    action: str  # "reverted" or "logged"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class WindowPresetHold:
    """Applies ``preset`` to ``volume_node`` and watches its display node until :meth:`stop`."""

    def __init__(self, volume_node: Any, preset: WindowPreset, on_change: str,
                 suv_factor: Optional[float] = None,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.timezone.utc)) -> None:
        if on_change not in ON_CHANGE_ACTIONS:
            raise InputError(f"display.on_change: expected one of {', '.join(ON_CHANGE_ACTIONS)}, found {on_change!r}")
        self.volume_node = volume_node
        self.preset = preset
        self.on_change = on_change
        self.deviations: list[DisplayDeviation] = []
        self._suv_factor = suv_factor
        self._clock = clock
        self._percentile_table = self._build_percentile_table() if preset.unit == "percentile" else None
        apply_window_preset(volume_node, preset, suv_factor)
        self._display = volume_node.GetDisplayNode()
        self._last = (self._display.GetWindow(), self._display.GetLevel())
        self._adjusting = False
        self._observer = self._display.AddObserver(vtk.vtkCommand.ModifiedEvent, self._on_modified)

    def stop(self) -> None:
        """Stop watching (the display keeps its current window/level)."""
        if self._observer is not None:
            self._display.RemoveObserver(self._observer)
            self._observer = None

    def _on_modified(self, _caller: Any, _event: str) -> None:
        if self._adjusting:
            return
        current = (self._display.GetWindow(), self._display.GetLevel())
        if np.allclose(current, self._last, rtol=_CHANGE_TOLERANCE, atol=0.0):
            return
        requested = self._to_preset_units(*current)
        if self.preset.allows(*requested):
            self._last = current
            return
        if self.on_change == "log":
            self._record(requested, requested, "logged")
            self._last = current
            return
        allowed = self.preset.clamp(*requested)
        self._record(requested, allowed, "reverted")
        self._set_display(*self._to_volume_units(*allowed))

    def _set_display(self, window: float, level: float) -> None:
        self._adjusting = True
        try:
            self._display.SetAutoWindowLevel(0)
            self._display.SetWindowLevel(window, level)
        finally:
            self._adjusting = False
        self._last = (self._display.GetWindow(), self._display.GetLevel())

    def _record(self, requested: tuple[float, float], applied: tuple[float, float], action: str) -> None:
        self.deviations.append(DisplayDeviation(
            timestamp=self._clock().isoformat(timespec="seconds"), preset=self.preset.organ, unit=self.preset.unit,
            requested_window=float(requested[0]), requested_level=float(requested[1]),
            applied_window=float(applied[0]), applied_level=float(applied[1]), action=action))

    # --- unit conversions between the display node (stored values) and the preset -------------------------

    def _to_preset_units(self, window: float, level: float) -> tuple[float, float]:
        if self.preset.unit == "SUVbw":
            return window * self._suv_factor, level * self._suv_factor
        if self.preset.unit == "percentile":
            low, high = np.interp([level - window / 2.0, level + window / 2.0], *self._percentile_table)
            return high - low, (high + low) / 2.0
        return window, level

    def _to_volume_units(self, window: float, level: float) -> tuple[float, float]:
        if self.preset.unit == "SUVbw":
            return window / self._suv_factor, level / self._suv_factor
        if self.preset.unit == "percentile":
            percentiles, intensities = self._percentile_table[1], self._percentile_table[0]
            low, high = np.interp([level - window / 2.0, level + window / 2.0], percentiles, intensities)
            return high - low, (high + low) / 2.0
        return window, level

    def _build_percentile_table(self) -> tuple[np.ndarray, np.ndarray]:
        """(intensity at each percentile, percentile) for interpolating either way."""
        values = np.asarray(slicer.util.arrayFromVolume(self.volume_node), dtype=float).ravel()
        values = values[np.isfinite(values)]
        percentiles = np.arange(0.0, 100.0 + _PERCENTILE_STEP / 2, _PERCENTILE_STEP)
        intensities = np.percentile(values, percentiles)
        # np.interp needs increasing x: collapse runs of equal intensities to their first percentile.
        intensities, first = np.unique(intensities, return_index=True)
        return intensities, percentiles[first]

