"""Longitudinal comparison of two report bundles (baseline and follow-up) of one patient.

ESR/EORTC consensus recommendation 7 (deSouza et al. 2022): longitudinal measurements strictly on the same
hardware and software platform. ``compare_timepoints`` checks the protocol's must-match keys, pairs the
lesions, computes the changes and the PERCIST 1.0 / RECIST 1.1 categories; ``write_compare_bundle`` writes
compare.json, compare.csv and compare.html atomically.
"""

from StandardSegLib.longitudinal.compare import compare_timepoints
from StandardSegLib.longitudinal.compare_bundle import write_compare_bundle
from StandardSegLib.longitudinal.timepoint import load_timepoint

__all__ = ["compare_timepoints", "load_timepoint", "write_compare_bundle"]
