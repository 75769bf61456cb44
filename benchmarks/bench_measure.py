"""Benchmark: ``region_statistics`` against a bare numpy masked-statistics baseline.

512 x 512 x 400 int16 volume (random-ish: smooth gradient plus noise), 30 mm diameter spherical lesion at
1 x 1 x 2 mm voxels. The baseline is the least any tool must do: ``values[mask]`` on a ready boolean
mask, then min/max/mean/median/std and the percentiles. ``region_statistics`` starts from the label image
(uint8) and a SimpleITK image, as real callers do. Prints times and ratios (target: <= 2x without peak).

Run: ``.venv/bin/python benchmarks/bench_measure.py``
"""

from __future__ import annotations

import timeit

import numpy as np
import SimpleITK as sitk

from StandardSegLib.measure import region_statistics

SHAPE_ZYX = (400, 512, 512)
SPACING_XYZ = (1.0, 1.0, 2.0)
LESION_DIAMETER_MM = 30.0
REPEATS = 5


def build() -> tuple[sitk.Image, sitk.Image, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    z = np.arange(SHAPE_ZYX[0], dtype=np.int16)[:, None, None]
    values = (rng.integers(0, 2000, size=SHAPE_ZYX, dtype=np.int16) + z).astype(np.int16)
    center = np.array([200, 256, 256])
    radius = LESION_DIAMETER_MM / 2.0
    spacing_zyx = np.asarray(SPACING_XYZ[::-1])
    reach = np.ceil(radius / spacing_zyx).astype(int)
    box = tuple(slice(c - r, c + r + 1) for c, r in zip(center, reach))
    grid = np.ogrid[box]
    distance2 = sum(((g - c) * s) ** 2 for g, c, s in zip(grid, center, spacing_zyx))
    labels = np.zeros(SHAPE_ZYX, dtype=np.uint8)
    labels[box] = distance2 <= radius ** 2
    image, mask = sitk.GetImageFromArray(values), sitk.GetImageFromArray(labels)
    for item in (image, mask):
        item.SetSpacing(SPACING_XYZ)
    return image, mask, values, labels.astype(bool)


def baseline(values: np.ndarray, mask: np.ndarray) -> tuple:
    selected = values[mask].astype(np.float64)
    return (selected.min(), selected.max(), selected.mean(), np.median(selected), selected.std(),
            np.percentile(selected, [5, 25, 75, 95]))


def best_time(function, *args, **kwargs) -> float:
    """Best of REPEATS runs (the least disturbed by other work on the machine)."""
    return min(timeit.repeat(lambda: function(*args, **kwargs), number=1, repeat=REPEATS))


def main() -> None:
    image, mask, values, boolean_mask = build()
    expected = baseline(values, boolean_mask)
    stats = region_statistics(image, mask, with_peak=True)
    assert np.isclose(stats.mean, expected[2]) and np.isclose(stats.median, expected[3])
    t_base = best_time(baseline, values, boolean_mask)
    t_stats = best_time(region_statistics, image, mask)
    t_peak = best_time(region_statistics, image, mask, with_peak=True)
    print(f"volume {SHAPE_ZYX[::-1]} int16, lesion {stats.voxel_count} voxels ({stats.volume_ml:.1f} mL), "
          f"best of {REPEATS}")
    print(f"numpy baseline (values[mask] + stats) : {t_base * 1000:8.1f} ms")
    print(f"region_statistics (no peak)           : {t_stats * 1000:8.1f} ms   ratio {t_stats / t_base:5.2f}x")
    print(f"region_statistics (with SUVpeak)      : {t_peak * 1000:8.1f} ms   ratio {t_peak / t_base:5.2f}x")


if __name__ == "__main__":
    main()
