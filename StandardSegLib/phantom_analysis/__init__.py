"""Physicists' phantom workflow: IEC/NEMA body phantom sphere analysis, EARL check and threshold calibration
(issue 13). ``locate`` finds the phantom, ``background`` measures NEMA NU 2 background ROIs, ``activity`` gives
the true activity, ``recovery`` the per-sphere RCs (through ``segmentation.segment``), ``earl`` the band
verdicts, ``calibration`` the thresholds and the trial protocol, ``bundle`` the outputs."""

from StandardSegLib.phantom_analysis.analysis import ActivityArguments, PhantomAnalysis, analyse_phantom
from StandardSegLib.phantom_analysis.bundle import validate_phantom_document, write_phantom_bundle

__all__ = ["ActivityArguments", "PhantomAnalysis", "analyse_phantom", "validate_phantom_document",
           "write_phantom_bundle"]
