"""A feature-robustness study: the same features measured repeatedly on perturbed (or re-scanned) lesions,
each feature scored by its ICC across the repetitions and called robust or not at the protocol's threshold.

- Perturbation mode (Zwanenburg et al., Sci Rep 2019): each lesion is perturbed ``repetitions`` times with one
  seeded generator (``perturbations``), features are extracted with the protocol's pyradiomics settings.
- Test-retest mode: two scans of each lesion are the two repetitions.

The ICC (``icc.ICC_FORM``) is a cohort statistic: it compares the spread between lesions with the spread
within a lesion, so it needs at least two lesions. With one lesion, only the within-lesion coefficient of
variation (SD / |mean| across repetitions) is defined; the study then calls a feature robust when that is at
most ``cv_max`` and says so (``criterion``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional, Sequence

import numpy as np

from StandardSegLib.errors import InputError, ProtocolError
from StandardSegLib.robustness.icc import ICC_FORM, icc_1_1
from StandardSegLib.robustness.perturbations import (PerturbationSettings, crop_to_mask, estimate_noise_sd, paste_back,
                                                     perturb)

if TYPE_CHECKING:
    import SimpleITK as sitk

    from StandardSegLib.protocols.model import Protocol
    from StandardSegLib.radiomics import RadiomicsResult


@dataclass(frozen=True)
class RobustnessSettings:
    """A protocol's ``radiomics.robustness`` (defaults: Zwanenburg 2019's ICC ≥ 0.90 "excellent" per Koo & Li)."""

    perturbation: PerturbationSettings = field(default_factory=PerturbationSettings)
    repetitions: int = 10
    seed: int = 614
    icc_threshold: float = 0.9
    #: The ICC statistic the threshold applies to: "point", or "lower_95ci", the lower bound of its 95 % CI (Koo
    #: & Li, J Chiropr Med 2016, recommend judging reliability on the confidence interval).
    icc_statistic: str = "point"
    cv_max: float = 0.1
    restrict_to_robust: bool = False
    robust_features: tuple[str, ...] = ()

    @classmethod
    def from_protocol(cls, protocol: Protocol) -> "RobustnessSettings":
        section = protocol.radiomics_robustness or {}
        icc = section.get("icc", {})
        perturbation = PerturbationSettings.from_spec(
            section.get("perturbations", list(PerturbationSettings().perturbations)),
            **{key: float(section[key]) for key in ("rotation_deg", "translation_fraction", "volume_fraction",
                                                     "contour_sd_voxels") if key in section})
        if section.get("restrict_to_robust") and not section.get("robust_features"):
            raise ProtocolError(f"protocol {protocol.id}: radiomics.robustness.restrict_to_robust needs the "
                                f"robust_features list (from 'standardseg robustness')")
        classes = protocol.radiomics.get("featureClass", {})
        for name in section.get("robust_features", ()):
            parts = name.split("_")
            if len(parts) < 3 or parts[-2] not in classes:
                raise ProtocolError(f"protocol {protocol.id}: radiomics.robustness.robust_features: {name} is not a "
                                    f"feature of an enabled class ({', '.join(classes)})")
        form = icc.get("form", ICC_FORM)
        if form != ICC_FORM:
            raise ProtocolError(f"protocol {protocol.id}: radiomics.robustness.icc.form: expected {ICC_FORM}, "
                                f"found {form}")
        return cls(perturbation=perturbation, repetitions=int(section.get("repetitions", cls.repetitions)),
                   seed=int(section.get("seed", cls.seed)), icc_threshold=float(icc.get("threshold", 0.9)),
                   icc_statistic=icc.get("statistic", "point"), cv_max=float(section.get("cv_max", cls.cv_max)),
                   restrict_to_robust=bool(section.get("restrict_to_robust", False)),
                   robust_features=tuple(section.get("robust_features", ())))

    def to_dict(self) -> dict[str, Any]:
        return {"perturbation": self.perturbation.to_dict(), "repetitions": self.repetitions, "seed": self.seed,
                "icc": {"form": ICC_FORM, "threshold": self.icc_threshold, "statistic": self.icc_statistic},
                "cv_max": self.cv_max}


@dataclass(frozen=True)
class Lesion:
    """A lesion to perturb: a name (no patient identifier), its image and its mask (> 0 inside)."""

    name: str
    image: sitk.Image
    mask: sitk.Image


@dataclass(frozen=True)
class FeatureRobustness:
    """One feature's scores (None where undefined: ICC with one lesion, CV of a zero-mean feature)."""

    name: str
    icc: Optional[float]
    icc_lower: Optional[float]
    icc_upper: Optional[float]
    cv: Optional[float]
    robust: bool

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "icc": self.icc, "icc_95ci": [self.icc_lower, self.icc_upper], "cv": self.cv,
                "robust": self.robust}


@dataclass(frozen=True)
class RobustnessResult:
    """Per-feature robustness, the values it was computed from and how it was decided."""

    mode: str  # "perturbation" or "test-retest"
    criterion: str
    lesions: tuple[str, ...]
    features: tuple[FeatureRobustness, ...]
    values: Mapping[str, np.ndarray]  # feature -> (lesions, repetitions)
    settings: RobustnessSettings
    parameters_source: str
    seconds: float
    drawn: tuple[tuple[Mapping[str, float], ...], ...] = ()

    @property
    def robust_features(self) -> tuple[str, ...]:
        return tuple(feature.name for feature in self.features if feature.robust)

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "criterion": self.criterion, "lesions": list(self.lesions),
                "settings": self.settings.to_dict(), "parameters_source": self.parameters_source,
                "robust_features": list(self.robust_features),
                "counts": {"features": len(self.features), "robust": len(self.robust_features)},
                "features": [feature.to_dict() for feature in self.features],
                "perturbations_drawn": [[dict(draw) for draw in lesion] for lesion in self.drawn],
                "seconds": round(self.seconds, 2)}


Extract = Callable[["sitk.Image", "sitk.Image", str], "RadiomicsResult"]


def perturbation_study(lesions: Sequence[Lesion], settings: RobustnessSettings, extract: Extract,
                       parameters_source: str = "parameters") -> RobustnessResult:
    """Features of ``settings.repetitions`` perturbed instances of every lesion (one generator seeded with
    ``settings.seed``, lesions in the given order), scored per feature. ``extract(image, mask, name)`` runs
    pyradiomics (see ``radiomics.run_extractor``)."""
    if settings.repetitions < 2:
        raise InputError(f"robustness: expected at least 2 repetitions, found {settings.repetitions}")
    started = time.perf_counter()
    rng = np.random.default_rng(settings.seed)
    tables, drawn = [], []
    for lesion in lesions:
        image, mask = crop_to_mask(lesion.image, lesion.mask)
        noise_sd = estimate_noise_sd(image) if "noise" in settings.perturbation.perturbations else None
        runs, draws = [], []
        for repetition in range(settings.repetitions):
            perturbed = paste_back(perturb(image, mask, settings.perturbation, rng, noise_sd), lesion.image)
            runs.append(extract(perturbed.image, perturbed.mask, f"{lesion.name} perturbation {repetition + 1}"))
            draws.append(perturbed.drawn)
        tables.append(runs)
        drawn.append(tuple(draws))
    result = _score("perturbation", tuple(lesion.name for lesion in lesions), tables, settings, parameters_source)
    return replace(result, seconds=time.perf_counter() - started, drawn=tuple(drawn))


def test_retest_study(pairs: Sequence[tuple[Lesion, Lesion]], settings: RobustnessSettings, extract: Extract,
                      parameters_source: str = "parameters") -> RobustnessResult:
    """Features of each lesion on its test and its retest scan, scored per feature (no perturbation)."""
    started = time.perf_counter()
    tables = [[extract(scan.image, scan.mask, f"{scan.name} {which}") for scan, which in zip(pair, ("test", "retest"))]
              for pair in pairs]
    result = _score("test-retest", tuple(pair[0].name for pair in pairs), tables, settings, parameters_source)
    return replace(result, seconds=time.perf_counter() - started)


def _score(mode: str, names: tuple[str, ...], tables: Sequence[Sequence[RadiomicsResult]],
           settings: RobustnessSettings, parameters_source: str) -> RobustnessResult:
    feature_names = list(tables[0][0].features)
    values = np.array([[[run.features[name] for name in feature_names] for run in runs] for runs in tables])
    values = np.moveaxis(values, 2, 0)  # (features, lesions, repetitions)
    mean = values.mean(axis=(1, 2))
    sd = values.std(axis=2, ddof=1).mean(axis=1)  # mean within-lesion SD
    with np.errstate(divide="ignore", invalid="ignore"):
        cv = np.where(sd == 0, 0.0, sd / np.abs(mean))
    if len(names) >= 2:
        icc = icc_1_1(values)
        statistic = icc.icc if settings.icc_statistic == "point" else icc.lower
        robust = np.nan_to_num(statistic, nan=-np.inf) >= settings.icc_threshold
        statistic_name = ICC_FORM + (" lower 95 % bound" if settings.icc_statistic == "lower_95ci" else "")
        criterion = f"{statistic_name} >= {settings.icc_threshold} over {len(names)} lesions"
        icc_values = (icc.icc, icc.lower, icc.upper)
    else:
        robust = np.nan_to_num(cv, nan=np.inf) <= settings.cv_max
        criterion = (f"one lesion: {ICC_FORM} needs at least 2; within-lesion coefficient of variation "
                     f"<= {settings.cv_max}")
        icc_values = (np.full(len(feature_names), np.nan),) * 3
    features = tuple(FeatureRobustness(name, _number(icc_values[0][i]), _number(icc_values[1][i]),
                                       _number(icc_values[2][i]), _number(cv[i]), bool(robust[i]))
                     for i, name in enumerate(feature_names))
    return RobustnessResult(mode=mode, criterion=criterion, lesions=names, features=features,
                            values={name: values[i] for i, name in enumerate(feature_names)}, settings=settings,
                            parameters_source=parameters_source, seconds=0.0)


def reported_features(result: RadiomicsResult, protocol: Protocol) -> RadiomicsResult:
    """``result`` restricted to the protocol's robust set when its ``radiomics.robustness.restrict_to_robust``
    says so (report.json ``radiomics.feature_set`` then names the set and what was left out), else unchanged."""
    settings = RobustnessSettings.from_protocol(protocol)
    if not settings.restrict_to_robust:
        return result
    source = (f"protocol {protocol.id} v{protocol.version} radiomics.robustness.robust_features "
              f"({len(settings.robust_features)} features)")
    return result.restricted(settings.robust_features, source)


def _number(value: float) -> Optional[float]:
    return float(value) if np.isfinite(value) else None
