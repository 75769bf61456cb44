"""Agreement of the readers' lesion volumes across lesions: ICC(2,1) and ICC(3,1) with 95 % confidence
intervals from pingouin (Shrout & Fleiss 1979; McGraw & Wong 1996: pingouin's ICC(A,1) is two-way random,
absolute agreement = ICC(2,1); ICC(C,1) is two-way mixed, consistency = ICC(3,1)), and Bland-Altman bias and
95 % limits of agreement for every pair of readers (Bland & Altman, Lancet 1986;i:307).

ICC needs at least ``MIN_LESIONS_ICC`` lesions (and 5 volumes in all), Bland-Altman limits at least 2; with fewer each says
"not assessable: <reason>".
"""

from __future__ import annotations

import warnings
from itertools import combinations
from typing import Any, Sequence

import numpy as np

MIN_LESIONS_ICC = 2
MIN_VALUES_ICC = 5  # pingouin refuses fewer
#: pingouin's row label -> the Shrout & Fleiss name used in the output
_ICC_TYPES = {"ICC(A,1)": "icc_2_1", "ICC(C,1)": "icc_3_1"}


def volume_agreement(volumes: Sequence[Sequence[float]], readers: Sequence[str]) -> dict[str, Any]:
    """``volumes[lesion][reader]`` in mL -> ICCs and pairwise Bland-Altman statistics."""
    table = np.asarray(volumes, dtype=float)
    return {"lesions": int(table.shape[0]), **_icc(table, readers),
            "bland_altman": [_bland_altman(table[:, j], table[:, i], readers[j], readers[i])
                             for i, j in combinations(range(len(readers)), 2)]}


def _icc(table: np.ndarray, readers: Sequence[str]) -> dict[str, Any]:
    if table.shape[0] < MIN_LESIONS_ICC or table.size < MIN_VALUES_ICC:
        reason = (f"not assessable: ICC needs at least {MIN_LESIONS_ICC} lesions and {MIN_VALUES_ICC} volumes, "
                  f"found {table.shape[0]} lesion(s) x {table.shape[1]} readers")
        return {name: {"value": None, "ci95": None, "note": reason} for name in _ICC_TYPES.values()}
    import pandas as pd
    import pingouin

    long = pd.DataFrame({"lesion": np.repeat(np.arange(table.shape[0]), table.shape[1]),
                         "reader": np.tile(list(readers), table.shape[0]), "volume_ml": table.ravel()})
    with warnings.catch_warnings():  # pingouin 0.7.0's ANOVA uses an argument pandas 3.1 deprecates
        warnings.filterwarnings("ignore", message="The inplace keyword", module="pingouin")
        frame = pingouin.intraclass_corr(data=long, targets="lesion", raters="reader", ratings="volume_ml")
    result = {}
    for _, row in frame.iterrows():
        if row["Type"] in _ICC_TYPES:
            note = f"pingouin {pingouin.__version__} {row['Type']}"
            if not np.isfinite(row["ICC"]):
                result[_ICC_TYPES[row["Type"]]] = {"value": None, "ci95": None,
                                                   "note": f"not assessable: {note} is undefined (no variance)"}
                continue
            interval = [float(value) for value in row["CI95"]]
            if not np.all(np.isfinite(interval)):
                interval, note = None, f"{note}; 95 % CI undefined (no residual variance)"
            result[_ICC_TYPES[row["Type"]]] = {"value": float(row["ICC"]), "ci95": interval, "note": note}
    return result


def _bland_altman(first: np.ndarray, second: np.ndarray, name: str, other: str) -> dict[str, Any]:
    """Differences ``first - second`` (mL): bias, SD and bias +- 1.96 SD."""
    difference = first - second
    result: dict[str, Any] = {"reader": name, "against": other, "bias_ml": float(difference.mean()),
                              "sd_ml": None, "limits_ml": None}
    if difference.size >= 2:
        sd = float(difference.std(ddof=1))
        result.update(sd_ml=sd, limits_ml=[result["bias_ml"] - 1.96 * sd, result["bias_ml"] + 1.96 * sd])
    else:
        result["note"] = "not assessable: limits of agreement need at least 2 lesions"
    return result
