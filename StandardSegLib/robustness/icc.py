"""ICC(1,1) of many features at once: one-way random effects, absolute agreement, single measurement.

Shrout & Fleiss, Psychol Bull 1979;86:420 (case 1) and McGraw & Wong, Psychol Methods 1996;1:30: with ``n``
targets (lesions) each measured ``k`` times (perturbations or scans) and the one-way ANOVA mean squares
between targets (MSB) and within targets (MSW),

    ICC(1,1) = (MSB - MSW) / (MSB + (k - 1) MSW),

with the 95 % confidence interval from F = MSB / MSW on (n - 1, n (k - 1)) degrees of freedom. This is the form
Zwanenburg et al. (Sci Rep 2019) use for perturbation robustness: the perturbations are not the same "raters"
for every lesion, so there is no rater effect to model. Computed here vectorised over features because a
robustness study has hundreds of features (pingouin's ``intraclass_corr``, the statistics library the test
checks these numbers against, takes ~0.1 s per call on a DataFrame).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: The ICC form computed here, as written in reports.
ICC_FORM = "ICC(1,1)"


@dataclass(frozen=True)
class ICCResult:
    """Per feature: ICC(1,1) and its 95 % confidence interval (NaN where the within- and between-target
    variances are both zero: a constant feature has no defined ICC)."""

    icc: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


def icc_1_1(values: np.ndarray, confidence: float = 0.95) -> ICCResult:
    """ICC(1,1) of ``values`` shaped (features, targets, measurements); needs ≥ 2 targets and ≥ 2 measurements."""
    from scipy.stats import f as f_distribution

    values = np.asarray(values, dtype=np.float64)
    _, n, k = values.shape
    if n < 2 or k < 2:
        raise ValueError(f"ICC(1,1) needs at least 2 targets and 2 measurements each, got {n} and {k}")
    target_means = values.mean(axis=2)
    grand = target_means.mean(axis=1, keepdims=True)
    msb = k * ((target_means - grand) ** 2).sum(axis=1) / (n - 1)
    msw = ((values - target_means[..., None]) ** 2).sum(axis=(1, 2)) / (n * (k - 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        icc = (msb - msw) / (msb + (k - 1) * msw)
        f_value = msb / msw
        alpha = 1.0 - confidence
        f_lower = f_value / f_distribution.ppf(1 - alpha / 2, n - 1, n * (k - 1))
        f_upper = f_value * f_distribution.ppf(1 - alpha / 2, n * (k - 1), n - 1)
        lower = (f_lower - 1) / (f_lower + k - 1)
        upper = (f_upper - 1) / (f_upper + k - 1)
    identical = msw == 0  # no within-target spread: perfect agreement when targets differ
    icc = np.where(identical & (msb > 0), 1.0, icc)
    lower = np.where(identical & (msb > 0), 1.0, lower)
    upper = np.where(identical & (msb > 0), 1.0, upper)
    return ICCResult(icc=icc, lower=lower, upper=upper)
