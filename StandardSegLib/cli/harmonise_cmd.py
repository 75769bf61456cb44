"""``standardseg harmonise DIR``: ComBat harmonisation of a batch folder's radiomics features across sites.

An explicit step, never done by ``batch`` itself: reads ``DIR/cohort.csv`` (or ``--table``), harmonises every
pyradiomics feature (or ``--feature`` names) across the ``--batch-column`` (default ``site``) with neuroCombat,
and writes ``DIR/harmonised/`` atomically (``--output`` elsewhere; an existing folder only with ``--overwrite``):
``cohort.combat.csv`` (case, site, lesion, measure, value: harmonised values only) and ``combat.json``
(method, implementation and version, sites and their lesion counts, features harmonised and left out, input
table SHA-256). The original cohort.csv is not touched.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

COMBAT_CSV, COMBAT_JSON, HARMONISED_DIR = "cohort.combat.csv", "combat.json", "harmonised"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "harmonise", help="ComBat harmonisation of a batch's radiomics features across sites (explicit step)",
        description="Harmonise the radiomics features of a 'standardseg batch' folder's cohort.csv across sites "
        "with ComBat (neuroCombat). Writes harmonised values beside the cohort table; never replaces it.")
    parser.add_argument("batch_dir", metavar="DIR", help="batch folder holding cohort.csv")
    parser.add_argument("--table", metavar="CSV", help="cohort table (default DIR/cohort.csv)")
    parser.add_argument("--batch-column", default="site", help="column naming the site/scanner (default site)")
    parser.add_argument("--feature", action="append", metavar="NAME",
                        help="harmonise only this feature (repeatable; default every pyradiomics feature)")
    parser.add_argument("--non-parametric", action="store_true", help="non-parametric empirical Bayes priors")
    parser.add_argument("-o", "--output", metavar="DIR", help=f"folder to write (default DIR/{HARMONISED_DIR})")
    parser.add_argument("--overwrite", action="store_true", help="replace the output folder (kept as .previous-<time>)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from StandardSegLib.files import sha256_of
    from StandardSegLib.normalisation.combat import combat_harmonise, read_cohort_table
    from StandardSegLib.report.atomic_folder import write_atomically

    table = Path(args.table or Path(args.batch_dir) / "cohort.csv")
    header, rows = read_cohort_table(table)
    result = combat_harmonise(header, rows, batch_column=args.batch_column, features=args.feature,
                              parametric=not args.non_parametric, source=str(table))
    provenance = dict(result.provenance, input={"table": table.name, "sha256": sha256_of(table)})
    target = Path(os.path.abspath(args.output or Path(args.batch_dir) / HARMONISED_DIR))

    def fill(staging: Path) -> None:
        (staging / COMBAT_CSV).write_text(result.csv_text(), encoding="utf-8")
        (staging / COMBAT_JSON).write_text(json.dumps(provenance, indent=2, allow_nan=False) + "\n", encoding="utf-8")

    write_atomically(target, fill, overwrite=args.overwrite)
    sites = ", ".join(f"{site} {count}" for site, count in provenance["sites"].items())
    print(f"ComBat ({provenance['implementation']}): {len(provenance['features'])} features of "
          f"{provenance['lesions']} lesions harmonised across {args.batch_column}s ({sites}); "
          f"{len(provenance['excluded']['constant_within_a_site'])} constant within a site left out")
    print(f"written: {target}")
    return 0
