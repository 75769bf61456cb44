"""Benchmark: the radiomics step against a bare pyradiomics call, and one-lesion measurements at full size.

1. Overhead of :func:`StandardSegLib.radiomics.extract_features` over a bare
   ``RadiomicsFeatureExtractor(parameters).execute(image, mask)`` with the same parameters (a protocol-like CT
   set: 1 mm B-spline resampling, bin width 25, shape + first order + GLCM + GLRLM + GLSZM) on a 30 mm
   lesion in a 160 x 160 x 80 image at 0.8 x 0.8 x 2 mm. Both build their extractor inside the timed call.
   Target: overhead <= 10 %. The feature values are checked equal first.
2. :func:`StandardSegLib.lesion_measurements.measure_lesion` (no radiomics) on a 512 x 512 x 400 int16 volume
   with a 30 mm spherical lesion at 1 x 1 x 2 mm, raw and as SUV (with SUVpeak). Target: <= 2 s. Printed with
   its ratio to a bare numpy baseline measured in the same run (``values[mask]`` statistics).

Times are the best of ``REPEATS`` runs. Run: ``.venv/bin/python benchmarks/bench_radiomics.py``
"""

from __future__ import annotations

import logging
import timeit

import numpy as np
import SimpleITK as sitk

from StandardSegLib.lesion_measurements import measure_lesion
from StandardSegLib.radiomics import extract_features

REPEATS = 5
LESION_DIAMETER_MM = 30.0
PARAMETERS = {
    "setting": {"binWidth": 25, "resampledPixelSpacing": [1, 1, 1], "interpolator": "sitkBSpline",
                "voxelArrayShift": 1000, "label": 1},
    "imageType": {"Original": {}},
    "featureClass": {"shape": [], "firstorder": [], "glcm": [], "glrlm": [], "glszm": []},
}


def sphere_case(shape_zyx: tuple[int, int, int], spacing_xyz: tuple[float, float, float], dtype,
                seed: int = 0) -> tuple[sitk.Image, sitk.Image, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    z = np.arange(shape_zyx[0], dtype=np.int16)[:, None, None]
    values = (rng.integers(0, 200, size=shape_zyx, dtype=np.int16) + z).astype(dtype)
    center = np.array(shape_zyx) // 2
    spacing_zyx = np.asarray(spacing_xyz[::-1])
    radius = LESION_DIAMETER_MM / 2.0
    reach = np.ceil(radius / spacing_zyx).astype(int)
    box = tuple(slice(c - r, c + r + 1) for c, r in zip(center, reach))
    distance2 = sum(((g - c) * s) ** 2 for g, c, s in zip(np.ogrid[box], center, spacing_zyx))
    labels = np.zeros(shape_zyx, dtype=np.uint8)
    labels[box] = distance2 <= radius ** 2
    values[box][labels[box] == 1] += np.asarray(300, dtype=dtype)
    image, mask = sitk.GetImageFromArray(values), sitk.GetImageFromArray(labels)
    for item in (image, mask):
        item.SetSpacing(spacing_xyz)
    return image, mask, values, labels.astype(bool)


def best_time(function, *args, **kwargs) -> float:
    """Best of REPEATS runs (the least disturbed by other work on the machine)."""
    return min(timeit.repeat(lambda: function(*args, **kwargs), number=1, repeat=REPEATS))


def bare_pyradiomics(image: sitk.Image, mask: sitk.Image) -> dict:
    from radiomics.featureextractor import RadiomicsFeatureExtractor

    return RadiomicsFeatureExtractor(PARAMETERS).execute(image, mask)


def numpy_baseline(values: np.ndarray, mask: np.ndarray) -> tuple:
    selected = values[mask].astype(np.float64)
    return selected.min(), selected.max(), selected.mean(), np.median(selected), selected.std()


def main() -> None:
    import radiomics

    radiomics.setVerbosity(logging.ERROR)  # the bare call would print pyradiomics' warnings on every run
    image, mask, _, _ = sphere_case((80, 160, 160), (0.8, 0.8, 2.0), np.int16)
    bare = bare_pyradiomics(image, mask)
    ours = extract_features(image, mask, PARAMETERS)
    assert all(ours.features[key] == float(value) for key, value in bare.items() if not key.startswith("diag"))
    t_bare = best_time(bare_pyradiomics, image, mask)
    t_ours = best_time(extract_features, image, mask, PARAMETERS)
    print(f"radiomics: {len(ours.features)} features, best of {REPEATS}")
    print(f"  bare pyradiomics              : {t_bare * 1000:8.1f} ms")
    print(f"  extract_features              : {t_ours * 1000:8.1f} ms   overhead {100 * (t_ours / t_bare - 1):+5.1f} % "
          "(target <= 10 %)")

    image, mask, values, boolean_mask = sphere_case((400, 512, 512), (1.0, 1.0, 2.0), np.int16)
    suv_image = sitk.Cast(image, sitk.sitkFloat32) / 100.0
    t_base = best_time(numpy_baseline, values, boolean_mask)
    t_raw = best_time(measure_lesion, image, mask)
    t_suv = best_time(measure_lesion, suv_image, mask, 1, "SUVbw")
    lesion = measure_lesion(image, mask)
    print(f"lesion measurements: volume {image.GetSize()} int16, lesion {lesion.voxel_count} voxels, "
          f"best of {REPEATS}")
    print(f"  numpy baseline (values[mask]) : {t_base * 1000:8.1f} ms")
    print(f"  measure_lesion (raw)          : {t_raw * 1000:8.1f} ms   ratio {t_raw / t_base:5.2f}x (target <= 2 s)")
    print(f"  measure_lesion (SUV + peak)   : {t_suv * 1000:8.1f} ms   ratio {t_suv / t_base:5.2f}x (target <= 2 s)")


if __name__ == "__main__":
    main()
