"""The image-specification gate: protocol spec items, SNR/CNR/TBR, reference tissue and operator training,
judged before anyone segments (ESR/EORTC consensus, recommendations 1, 2 and 6)."""

from StandardSegLib.gate.evaluate import GateEvaluation, RoiInput, evaluate_gate, values_for_gate
from StandardSegLib.gate.reference_tissue import ReferenceMeasurement
from StandardSegLib.gate.verdict import FAIL, PASS, WARN, GateItem, GateVerdict, Override

__all__ = ["FAIL", "PASS", "WARN", "GateEvaluation", "GateItem", "GateVerdict", "Override", "ReferenceMeasurement",
           "RoiInput", "evaluate_gate", "values_for_gate"]
