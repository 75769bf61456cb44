"""ComBat harmonisation of a cohort's radiomics features across sites (scanners), an explicit step on a batch
folder's cohort.csv (never applied silently: the harmonised table is written beside, named as such, with its
provenance).

ComBat (Johnson, Li & Rabinovic, Biostatistics 2007;8:118) removes additive and multiplicative site effects
per feature with empirical-Bayes shrinkage; Fortin et al. (NeuroImage 2018;167:104) brought it to imaging, and
Orlhac et al. (J Nucl Med 2018;59:1321) to radiomics. It is computed by neuroCombat (Fortin's maintained
implementation); this module only pivots the tidy cohort table to features x lesions and back.

Features constant within a site have no site variance to estimate and are left out (named in
``excluded``); so are lesions missing any harmonised feature. Each site needs at least 2 lesions. The
empirical-Bayes priors pool site effects across features, so a single feature is harmonised without them
(location/scale ComBat; ``empirical_bayes`` false in the provenance).
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from StandardSegLib.errors import InputError

#: A pyradiomics feature name: ``<image type>_<class>_<feature>`` (the cohort table's radiomics rows).
RADIOMICS_NAME = re.compile(r"^[A-Za-z0-9.-]+_(shape|shape2D|firstorder|glcm|glrlm|glszm|gldm|ngtdm)_\w+$")
COHORT_COLUMNS = ("case", "site", "lesion", "measure", "value")
CITATION = ("ComBat: Johnson et al., Biostatistics 2007;8:118; Fortin et al., NeuroImage 2018;167:104 "
            "(neuroCombat); for radiomics Orlhac et al., J Nucl Med 2018;59:1321")


@dataclass(frozen=True)
class Harmonised:
    """The harmonised rows (header as the cohort table's) and what was done."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    provenance: dict[str, Any]

    def csv_text(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(self.header)
        writer.writerows(self.rows)
        return buffer.getvalue()


def read_cohort_table(path: Path) -> tuple[tuple[str, ...], list[dict[str, str]]]:
    """The cohort table's header and rows; InputError naming a missing column."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            header = tuple(reader.fieldnames or ())
            rows = list(reader)
    except OSError as error:
        raise InputError(f"{path}: cannot read the cohort table ({error.strerror})") from None
    missing = [column for column in COHORT_COLUMNS if column not in header]
    if missing:
        raise InputError(f"{path}: expected columns {', '.join(COHORT_COLUMNS)}; missing {', '.join(missing)}")
    return header, rows


def combat_harmonise(header: Sequence[str], rows: Sequence[dict[str, str]], *, batch_column: str = "site",
                     features: Optional[Sequence[str]] = None, parametric: bool = True,
                     source: str = "cohort table") -> Harmonised:
    """ComBat-harmonised copies of the radiomics rows (``features``: those names, default every pyradiomics
    feature) of ``rows``; other rows are not returned."""
    import neuroCombat
    import pandas as pd

    if batch_column not in header:
        raise InputError(f"{source}: no column {batch_column!r} to harmonise across")
    wanted = set(features) if features is not None else None
    selected = [row for row in rows if (row["measure"] in wanted if wanted is not None
                                        else RADIOMICS_NAME.match(row["measure"])) and row["value"] != ""]
    if not selected:
        raise InputError(f"{source}: no radiomics feature values to harmonise")
    table = pd.DataFrame(selected)
    table["value"] = table["value"].astype(float)
    wide = table.pivot_table(index=["case", "lesion"], columns="measure", values="value", aggfunc="first")
    sites = table.groupby(["case", "lesion"])[batch_column].first().reindex(wide.index)
    complete = wide.dropna(axis=0, how="any")
    dropped_lesions = [f"{case}/{lesion}" for case, lesion in wide.index.difference(complete.index)]
    sites = sites.reindex(complete.index)
    counts = sites.value_counts()
    if len(counts) < 2:
        raise InputError(f"{source}: ComBat needs lesions from at least 2 {batch_column}s, found {len(counts)}")
    if counts.min() < 2:
        raise InputError(f"{source}: ComBat needs at least 2 lesions per {batch_column}; "
                         f"{counts.idxmin()} has {int(counts.min())}")
    within_sd = complete.groupby(sites.values).std(ddof=0)
    constant = [name for name in complete.columns if (within_sd[name] == 0).any()]
    kept = complete.drop(columns=constant)
    if kept.shape[1] == 0:
        raise InputError(f"{source}: every feature is constant within a {batch_column}; nothing to harmonise")
    empirical_bayes = kept.shape[1] >= 2  # the priors pool the site effects of several features
    with contextlib.redirect_stdout(io.StringIO()):  # neuroCombat prints its progress
        output = neuroCombat.neuroCombat(dat=kept.to_numpy().T, covars=pd.DataFrame({"batch": sites.values}),
                                         batch_col="batch", parametric=parametric, eb=empirical_bayes)
    data = np.asarray(output["data"]).T
    site_of = dict(zip(kept.index, sites.values))
    out_rows = tuple((case, site_of[(case, lesion)], lesion, name, repr(float(data[i, j])))
                     for i, (case, lesion) in enumerate(kept.index) for j, name in enumerate(kept.columns))
    provenance = {"method": "ComBat", "implementation": f"neuroCombat {_version('neuroCombat')}",
                  "parametric": parametric, "empirical_bayes": empirical_bayes, "batch_column": batch_column,
                  "sites": {str(site): int(count) for site, count in counts.items()},
                  "features": list(kept.columns), "lesions": len(kept.index),
                  "excluded": {"constant_within_a_site": constant, "incomplete_lesions": dropped_lesions},
                  "citation": CITATION}
    return Harmonised(("case", batch_column, "lesion", "measure", "value"), out_rows, provenance)


def _version(distribution: str) -> str:
    from importlib.metadata import version

    return version(distribution)
