"""pyradiomics' known deviations from IBSI 1, as data a report can print.

Sources: the pyradiomics documentation (FAQ "Does PyRadiomics adhere to IBSI definitions of features?"):
bin edges start at 0 for a fixed bin width, the resampling grid is aligned to the origin corner, resampled grey
levels are not rounded, masks are resampled nearest-neighbour, and ``Kurtosis`` is IBSI kurtosis + 3. One more
was found on the IBSI digital phantom (``Testing/test_radiomics_ibsi_phantom.py``): the PCA axis lengths use
the population covariance (divide by N); the IBSI consensus values match the sample covariance (N - 1).

Each deviation says when it applies (:data:`CONDITIONS`) and which pyradiomics features it affects, so a
report lists only those relevant to the settings and features of an extraction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from StandardSegLib.radiomics.ibsi_mapping import class_and_feature

PYRADIOMICS_FAQ = "pyradiomics documentation, FAQ: Does PyRadiomics adhere to IBSI definitions of features?"
#: Feature classes computed on the discretised image.
DISCRETISED = ("firstorder_Entropy", "firstorder_Uniformity", "glcm_", "glrlm_", "glszm_", "gldm_", "ngtdm_")


def _resampling(settings: Mapping[str, Any]) -> bool:
    return settings.get("resampledPixelSpacing") is not None and settings.get("interpolator") is not None


def _fixed_bin_width(settings: Mapping[str, Any]) -> bool:
    return settings.get("binCount") is None


def _shifted(settings: Mapping[str, Any]) -> bool:
    return bool(settings.get("voxelArrayShift", 0))


#: When a deviation can change a value, given the extractor's effective settings.
CONDITIONS: Mapping[str, Callable[[Mapping[str, Any]], bool]] = {
    "always": lambda settings: True,
    "resampling": _resampling,
    "fixed bin width": _fixed_bin_width,
    "voxelArrayShift != 0": _shifted,
}


@dataclass(frozen=True)
class KnownDeviation:
    """One way pyradiomics differs from IBSI 1.

    ``features``: the pyradiomics ``<class>_<feature>`` names (or ``<class>_`` prefixes) affected; empty means
    every feature. ``condition``: a key of :data:`CONDITIONS`.
    """

    id: str
    title: str
    pyradiomics: str
    ibsi: str
    effect: str
    condition: str
    features: tuple[str, ...]
    source: str

    def affects(self, pyradiomics_name: str) -> bool:
        key = class_and_feature(pyradiomics_name)
        if key is None:
            return False
        return not self.features or any(key == f or (f.endswith("_") and key.startswith(f)) for f in self.features)

    def applies(self, settings: Mapping[str, Any], feature_names: Iterable[str]) -> bool:
        """True when the settings meet the condition and at least one of the features is affected."""
        return CONDITIONS[self.condition](settings) and any(self.affects(name) for name in feature_names)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "pyradiomics": self.pyradiomics, "ibsi": self.ibsi,
                "effect": self.effect, "condition": self.condition, "features": list(self.features),
                "source": self.source}


KNOWN_DEVIATIONS: tuple[KnownDeviation, ...] = (
    KnownDeviation(
        id="bin-edges-at-zero", title="Fixed bin width: bin edges start at 0",
        pyradiomics="bin edges are multiples of binWidth counted from 0 (the first edge is the largest multiple "
        "not above the ROI minimum)",
        ibsi="fixed bin size discretisation starts at the lower bound of the re-segmentation range, else at the "
        "ROI minimum",
        effect="grey-level bins shift when the ROI minimum (or range bound) is not a multiple of the bin width; "
        "identical otherwise",
        condition="fixed bin width", features=DISCRETISED, source=PYRADIOMICS_FAQ),
    KnownDeviation(
        id="kurtosis-not-excess", title="Kurtosis is not excess kurtosis",
        pyradiomics="Kurtosis = m4 / m2^2", ibsi="kurtosis = m4 / m2^2 - 3 (excess kurtosis)",
        effect="pyradiomics Kurtosis = IBSI kurtosis + 3", condition="always",
        features=("firstorder_Kurtosis",), source=PYRADIOMICS_FAQ),
    KnownDeviation(
        id="pca-population-covariance", title="PCA axis lengths use the population covariance",
        pyradiomics="eigenvalues of the voxel-centre covariance divided by N",
        ibsi="the consensus values correspond to the sample covariance (divided by N - 1)",
        effect="Major/Minor/LeastAxisLength smaller by the factor sqrt((N - 1) / N) (N = ROI voxels); "
        "Elongation and Flatness unaffected",
        condition="always",
        features=("shape_MajorAxisLength", "shape_MinorAxisLength", "shape_LeastAxisLength"),
        source="IBSI digital phantom: 11.33/9.24/8.48 mm x sqrt(74/73) = 11.40/9.31/8.54 mm, the IBSI values "
        "(Testing/test_radiomics_ibsi_phantom.py)"),
    KnownDeviation(
        id="grid-alignment", title="Resampling grid aligned to the origin corner",
        pyradiomics="the resampled grid keeps the corner of the first voxel (origin voxel edge) in place",
        ibsi="the resampled grid is centred on the original grid (align grid centres)",
        effect="resampled voxels are shifted by up to half a voxel relative to IBSI's grid",
        condition="resampling", features=(), source=PYRADIOMICS_FAQ),
    KnownDeviation(
        id="no-rounding-after-resampling", title="Interpolated grey levels are not rounded",
        pyradiomics="interpolated intensities are kept (in the image's pixel type)",
        ibsi="intensities of integer-valued modalities (CT in HU) are rounded to the nearest integer after "
        "interpolation",
        effect="intensity and texture features of resampled float images differ slightly",
        condition="resampling", features=(), source=PYRADIOMICS_FAQ),
    KnownDeviation(
        id="mask-nearest-neighbour", title="Mask resampled nearest-neighbour",
        pyradiomics="the mask is resampled with nearest-neighbour interpolation",
        ibsi="the mask is interpolated (e.g. linearly) and re-thresholded at 0.5",
        effect="the resampled ROI can differ by a layer of voxels at its edge",
        condition="resampling", features=(), source=PYRADIOMICS_FAQ),
    KnownDeviation(
        id="voxel-array-shift", title="Energy and RMS include voxelArrayShift",
        pyradiomics="Energy, TotalEnergy and RootMeanSquared add the voxelArrayShift setting to every intensity",
        ibsi="energy and root mean square use the intensities as they are",
        effect="Energy and RootMeanSquared differ from IBSI whenever voxelArrayShift is not 0",
        condition="voxelArrayShift != 0",
        features=("firstorder_Energy", "firstorder_TotalEnergy", "firstorder_RootMeanSquared"),
        source="pyradiomics documentation, first order features (voxelArrayShift)"),
)


def applicable_deviations(settings: Mapping[str, Any], feature_names: Iterable[str]) -> tuple[KnownDeviation, ...]:
    """The known deviations that can affect these features under these (effective) extractor settings."""
    names = tuple(feature_names)
    return tuple(deviation for deviation in KNOWN_DEVIATIONS if deviation.applies(settings, names))
