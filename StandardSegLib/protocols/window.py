"""Display window presets: a default window/level per organ and the range a reader may use without deviating.

The ESR/EORTC consensus (deSouza 2022, recommendation 3) asks SOPs for quantitative imaging to specify
window-level *ranges* per organ. A protocol states a preset in one of two forms:

- window/level, the CT habit (OHIF liver: W 150 / L 90), with ``window_range`` and ``level_range``;
- lower/upper bounds, the PET habit (SUV 0-5), with ``lower_range`` and ``upper_range``.

Both are normalised to window/level (``lower = level - window/2``, ``upper = level + window/2``), which is
what a viewer sets. The allowed region is kept in the form the protocol stated, because "window 120-200 and
level 60-110" and "lower 0, upper 3-10" bound different regions of the (window, level) plane.

Units: ``HU`` (CT), ``SUVbw`` (PET) or ``percentile`` (MR, whose intensities have no absolute scale): a
percentile preset's window and level are percent of the image's intensity distribution and become an
intensity window only for a given image (:meth:`WindowPreset.to_intensity_window`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional

import numpy as np

from StandardSegLib.errors import InputError

WINDOW_LEVEL = "window_level"
LOWER_UPPER = "lower_upper"

#: Absolute slack when comparing a viewer's floating-point window/level with a range bound, so that a value
#: that round-trips through a display node (float32) is not reported as a deviation.
RANGE_TOLERANCE = 1e-6

Range = tuple[float, float]


@dataclass(frozen=True)
class WindowPreset:
    """One organ's display preset, normalised to window/level, with its allowed ranges."""

    organ: str
    unit: str
    window: float
    level: float
    form: str  # WINDOW_LEVEL or LOWER_UPPER: which two quantities ``ranges`` bound
    ranges: tuple[Range, Range]  # (window_range, level_range) or (lower_range, upper_range)
    source: str
    description: Optional[str] = None

    @classmethod
    def from_entry(cls, organ: str, entry: Mapping[str, Any]) -> "WindowPreset":
        """Build from a validated ``window_presets`` entry of a protocol document."""
        if "window" in entry:
            window, level = float(entry["window"]), float(entry["level"])
            form, names = WINDOW_LEVEL, ("window_range", "level_range")
        else:
            lower, upper = float(entry["lower"]), float(entry["upper"])
            window, level = upper - lower, (upper + lower) / 2.0
            form, names = LOWER_UPPER, ("lower_range", "upper_range")
        first, second = (tuple(float(value) for value in entry[name]) for name in names)
        return cls(organ=organ, unit=str(entry["unit"]), window=window, level=level, form=form,
                   ranges=(first, second), source=str(entry["source"]), description=entry.get("description"))

    @property
    def lower(self) -> float:
        return self.level - self.window / 2.0

    @property
    def upper(self) -> float:
        return self.level + self.window / 2.0

    @property
    def window_range(self) -> Optional[Range]:
        return self.ranges[0] if self.form == WINDOW_LEVEL else None

    @property
    def level_range(self) -> Optional[Range]:
        return self.ranges[1] if self.form == WINDOW_LEVEL else None

    @property
    def lower_range(self) -> Optional[Range]:
        return self.ranges[0] if self.form == LOWER_UPPER else None

    @property
    def upper_range(self) -> Optional[Range]:
        return self.ranges[1] if self.form == LOWER_UPPER else None

    def _coordinates(self, window: float, level: float) -> tuple[float, float]:
        """(window, level) in the coordinates the ranges bound."""
        if self.form == WINDOW_LEVEL:
            return float(window), float(level)
        return float(level) - float(window) / 2.0, float(level) + float(window) / 2.0

    def _from_coordinates(self, first: float, second: float) -> tuple[float, float]:
        if self.form == WINDOW_LEVEL:
            return first, second
        return second - first, (first + second) / 2.0

    def allows(self, window: float, level: float) -> bool:
        """True if a reader's window/level stays inside the protocol's ranges (within RANGE_TOLERANCE)."""
        if not (np.isfinite(window) and np.isfinite(level)) or window <= 0:
            return False
        return all(low - RANGE_TOLERANCE <= value <= high + RANGE_TOLERANCE
                   for value, (low, high) in zip(self._coordinates(window, level), self.ranges))

    def clamp(self, window: float, level: float) -> tuple[float, float]:
        """The allowed window/level nearest to the given one.

        "Nearest" is measured in the coordinates the protocol bounds (window/level, or lower/upper), where
        the allowed region is a rectangle and the nearest point is the per-axis clamp. Protocol validation
        guarantees that every point of that rectangle has a positive window.
        """
        if not (np.isfinite(window) and np.isfinite(level)):
            return self.window, self.level
        coordinates = self._coordinates(window, level)
        clamped = (min(max(value, low), high) for value, (low, high) in zip(coordinates, self.ranges))
        return self._from_coordinates(*clamped)

    def to_intensity_window(self, values: np.ndarray) -> tuple[float, float]:
        """Window/level in the image's own intensity units.

        For a ``percentile`` preset the bounds ``level -/+ window/2`` are percentiles of ``values`` (the
        image's intensities, or those of a foreground selection the caller chooses; NaNs are ignored;
        numpy's linear interpolation between order statistics). HU and SUVbw presets are already in image
        units and are returned unchanged.
        """
        if self.unit != "percentile":
            return self.window, self.level
        finite = np.asarray(values, dtype=float).ravel()
        finite = finite[np.isfinite(finite)]
        if finite.size == 0:
            raise InputError(f"window preset '{self.organ}': expected image intensities to take percentiles of, "
                             "found no finite values")
        low, high = (float(value) for value in np.percentile(finite, [self.lower, self.upper]))
        if not high > low:
            raise InputError(f"window preset '{self.organ}': expected the {self.lower:g}th and {self.upper:g}th "
                             f"intensity percentiles to differ, found both {low:g} (a constant image?)")
        return high - low, (high + low) / 2.0
