"""Nyúl–Udupa histogram standardisation with landmarks kept in a versioned JSON file.

Training (Nyúl & Udupa, Magn Reson Med 1999;42:1072; Nyúl, Udupa & Zhang, IEEE TMI 2000;19:143): each training
image's percentile landmarks (1st, 10th ... 90th, 99th within its foreground) are mapped linearly so that its
1st and 99th percentiles land on [1, 100], and the mapped landmarks are averaged into the standard scale.
Applying: an image's own landmarks are mapped piecewise-linearly onto the standard scale (extrapolated beyond
the end landmarks). Both steps are intensity-normalization's ``NyulNormalizer``; this module stores what it
learnt as ``standardseg.nyul-landmarks/1`` JSON (percentiles, standard scale, the training images' SHA-256,
library version), so a protocol can pin one landmark file by path and hash.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import SimpleITK as sitk

from StandardSegLib.errors import InputError
from StandardSegLib.normalisation.methods import CITATIONS, Normalisation

SCHEMA_ID = "standardseg.nyul-landmarks/1"


@dataclass(frozen=True)
class NyulLandmarks:
    """Percentiles and the standard scale they map to, with where they came from."""

    percentiles: tuple[float, ...]
    standard_scale: tuple[float, ...]
    training: tuple[str, ...]  # SHA-256 of each training image's voxel values
    library: str

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA_ID, "percentiles": list(self.percentiles),
                "standard_scale": list(self.standard_scale), "training_sha256": list(self.training),
                "library": self.library}

    def save(self, path: str | Path) -> str:
        """Write the JSON file; returns its SHA-256 (to pin it in a protocol)."""
        text = json.dumps(self.to_dict(), indent=2) + "\n"
        Path(path).write_text(text, encoding="utf-8")
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def train_landmarks(images: Sequence[sitk.Image], masks: Optional[Sequence[Optional[sitk.Image]]] = None
                    ) -> NyulLandmarks:
    """Learn the standard scale from ``images`` (within ``masks`` where given, else voxels > 0)."""
    import intensity_normalization
    from intensity_normalization import NyulNormalizer

    if not images:
        raise InputError("Nyul training: expected at least one training image")
    normalizer = NyulNormalizer()
    adapters = [_adapter(image) for image in images]
    mask_adapters = [(_adapter(mask) if mask is not None else None) for mask in masks] if masks else None
    normalizer.fit_population(adapters, mask_adapters)
    digests = tuple(hashlib.sha256(sitk.GetArrayViewFromImage(image).tobytes()).hexdigest() for image in images)
    return NyulLandmarks(tuple(map(float, normalizer.percentiles)), tuple(map(float, normalizer.standard_scale)),
                         digests, f"intensity-normalization {intensity_normalization.__version__}")


def read_landmarks(path: str | Path) -> tuple[NyulLandmarks, str]:
    """Landmarks from their JSON file and the file's SHA-256; InputError naming the file and field."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        document = json.loads(raw)
    except OSError as error:
        raise InputError(f"{path}: cannot read the Nyul landmarks file ({error.strerror})") from None
    except json.JSONDecodeError as error:
        raise InputError(f"{path}: line {error.lineno}: invalid JSON: {error.msg}") from None
    if not isinstance(document, dict) or document.get("schema") != SCHEMA_ID:
        raise InputError(f"{path}: schema: expected {SCHEMA_ID}")
    percentiles, scale = document.get("percentiles"), document.get("standard_scale")
    if (not isinstance(percentiles, list) or not isinstance(scale, list) or len(percentiles) != len(scale)
            or len(scale) < 2 or np.any(np.diff(scale) <= 0) or np.any(np.diff(percentiles) <= 0)):
        raise InputError(f"{path}: percentiles/standard_scale: expected two increasing lists of equal length")
    landmarks = NyulLandmarks(tuple(map(float, percentiles)), tuple(map(float, scale)),
                              tuple(document.get("training_sha256", ())), str(document.get("library", "")))
    return landmarks, hashlib.sha256(raw).hexdigest()


def apply_landmarks(image: sitk.Image, landmarks: NyulLandmarks, mask: Optional[sitk.Image] = None,
                    file_sha256: Optional[str] = None) -> tuple[sitk.Image, Normalisation]:
    """``image`` mapped onto the standard scale (its landmarks within ``mask``, else voxels > 0)."""
    from intensity_normalization import NyulNormalizer

    normalizer = NyulNormalizer()
    buffer = io.BytesIO()
    np.save(buffer, np.vstack([landmarks.standard_scale, landmarks.percentiles]))
    buffer.seek(0)
    normalizer.load_standard_histogram(buffer)
    values = sitk.GetArrayFromImage(image).astype(np.float64)
    region = "mask" if mask is not None else "voxels > 0"
    voxels = int(np.count_nonzero(sitk.GetArrayViewFromImage(mask) if mask is not None else values > 0))
    if voxels < 2:
        raise InputError(f"Nyul normalisation: the {region} holds {voxels} voxel(s); expected at least 2")
    mapped = normalizer.transform(_adapter(image), _adapter(mask) if mask is not None else None).get_data()
    result = sitk.GetImageFromArray(np.asarray(mapped, dtype=np.float32))
    result.CopyInformation(image)
    own = np.percentile(values[sitk.GetArrayViewFromImage(mask) > 0] if mask is not None else values[values > 0],
                        landmarks.percentiles)
    return result, Normalisation("nyul", region, voxels, {}, CITATIONS["nyul"],
                                 {"image_landmarks": [float(value) for value in own],
                                  "standard_scale": list(landmarks.standard_scale),
                                  "landmarks_sha256": file_sha256})


def _adapter(image: sitk.Image) -> Any:
    from intensity_normalization.adapters.images import NumpyImageAdapter

    return NumpyImageAdapter(sitk.GetArrayFromImage(image).astype(np.float64))
