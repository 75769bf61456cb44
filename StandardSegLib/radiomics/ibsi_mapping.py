"""pyradiomics feature names -> IBSI 1 feature family, name and identifier, where a mapping exists.

Families and names are those of the IBSI reference manual (Zwanenburg et al., IBSI 1, chapter "Image features",
theibsi/ibsi-doc ``docs/03_Image_features.rst``); the four-character identifiers are the ones printed beside each
feature there (also DICOM CID 7478 for the histogram ones). Only features whose definition IBSI shares are
mapped: morphology (``shape``) and first order. ``firstorder`` features are computed by pyradiomics on the
original intensities, so they map to the IBSI *intensity-based statistical* family, except ``Entropy`` and
``Uniformity``, which pyradiomics computes on the discretised intensities (IBSI *intensity histogram* family).

A mapped feature may still differ in value from IBSI: see :mod:`StandardSegLib.radiomics.deviations`
(e.g. ``Kurtosis`` is IBSI kurtosis + 3). pyradiomics features without an IBSI counterpart (``TotalEnergy``,
``Maximum2DDiameter*``, the deprecated ``StandardDeviation``) and the texture classes are left unmapped: their
IBSI correspondence depends on aggregation choices not checked here.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping, Optional

MORPHOLOGY = "Morphological features"
STATISTICS = "Intensity-based statistical features"
HISTOGRAM = "Intensity histogram features"


@dataclass(frozen=True)
class IBSIFeature:
    """One IBSI 1 feature: its family, name and four-character identifier."""

    family: str
    name: str
    code: str

    def to_dict(self) -> dict[str, str]:
        return {"family": self.family, "name": self.name, "code": self.code}


#: pyradiomics ``<class>_<feature>`` -> IBSI feature.
PYRADIOMICS_TO_IBSI: Mapping[str, IBSIFeature] = MappingProxyType({
    "shape_MeshVolume": IBSIFeature(MORPHOLOGY, "volume (mesh)", "RNU0"),
    "shape_VoxelVolume": IBSIFeature(MORPHOLOGY, "volume (voxel counting)", "YEKZ"),
    "shape_SurfaceArea": IBSIFeature(MORPHOLOGY, "surface area (mesh)", "C0JK"),
    "shape_SurfaceVolumeRatio": IBSIFeature(MORPHOLOGY, "surface to volume ratio", "2PR5"),
    "shape_Compactness1": IBSIFeature(MORPHOLOGY, "compactness 1", "SKGS"),
    "shape_Compactness2": IBSIFeature(MORPHOLOGY, "compactness 2", "BQWJ"),
    "shape_SphericalDisproportion": IBSIFeature(MORPHOLOGY, "spherical disproportion", "KRCK"),
    "shape_Sphericity": IBSIFeature(MORPHOLOGY, "sphericity", "QCFX"),
    "shape_Maximum3DDiameter": IBSIFeature(MORPHOLOGY, "maximum 3D diameter", "L0JK"),
    "shape_MajorAxisLength": IBSIFeature(MORPHOLOGY, "major axis length", "TDIC"),
    "shape_MinorAxisLength": IBSIFeature(MORPHOLOGY, "minor axis length", "P9VJ"),
    "shape_LeastAxisLength": IBSIFeature(MORPHOLOGY, "least axis length", "7J51"),
    "shape_Elongation": IBSIFeature(MORPHOLOGY, "elongation", "Q3CK"),
    "shape_Flatness": IBSIFeature(MORPHOLOGY, "flatness", "N17B"),
    "firstorder_Mean": IBSIFeature(STATISTICS, "mean", "Q4LE"),
    "firstorder_Variance": IBSIFeature(STATISTICS, "variance", "ECT3"),
    "firstorder_Skewness": IBSIFeature(STATISTICS, "skewness", "KE2A"),
    "firstorder_Kurtosis": IBSIFeature(STATISTICS, "kurtosis", "IPH6"),
    "firstorder_Median": IBSIFeature(STATISTICS, "median", "Y12H"),
    "firstorder_Minimum": IBSIFeature(STATISTICS, "minimum", "1GSF"),
    "firstorder_10Percentile": IBSIFeature(STATISTICS, "10th percentile", "QG58"),
    "firstorder_90Percentile": IBSIFeature(STATISTICS, "90th percentile", "8DWT"),
    "firstorder_Maximum": IBSIFeature(STATISTICS, "maximum", "84IY"),
    "firstorder_InterquartileRange": IBSIFeature(STATISTICS, "interquartile range", "SALO"),
    "firstorder_Range": IBSIFeature(STATISTICS, "range", "2OJQ"),
    "firstorder_MeanAbsoluteDeviation": IBSIFeature(STATISTICS, "mean absolute deviation", "4FUA"),
    "firstorder_RobustMeanAbsoluteDeviation": IBSIFeature(STATISTICS, "robust mean absolute deviation", "1128"),
    "firstorder_Energy": IBSIFeature(STATISTICS, "energy", "N8CA"),
    "firstorder_RootMeanSquared": IBSIFeature(STATISTICS, "root mean square", "5ZWQ"),
    "firstorder_Entropy": IBSIFeature(HISTOGRAM, "entropy", "TLU2"),
    "firstorder_Uniformity": IBSIFeature(HISTOGRAM, "uniformity", "BJ5W"),
})


def class_and_feature(pyradiomics_name: str) -> Optional[str]:
    """``original_shape_MeshVolume`` -> ``shape_MeshVolume``; None for diagnostics and malformed names.

    pyradiomics names features ``<imageType>_<class>_<feature>``; image types of filtered images contain
    hyphens or underscores of their own (``wavelet-LLH``, ``log-sigma-1-0-mm-3D``), so the last two parts are
    the class and the feature.
    """
    parts = pyradiomics_name.split("_")
    if len(parts) < 3 or parts[0] == "diagnostics":
        return None
    return f"{parts[-2]}_{parts[-1]}"


def ibsi_feature(pyradiomics_name: str) -> Optional[IBSIFeature]:
    """The IBSI feature a pyradiomics feature computes, or None where no mapping exists.

    The mapping is by definition; for filtered image types the feature is the IBSI feature of the filtered
    image (IBSI 1 reference values exist only for the unfiltered ``original`` image).
    """
    key = class_and_feature(pyradiomics_name)
    return PYRADIOMICS_TO_IBSI.get(key) if key else None
