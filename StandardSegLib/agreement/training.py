"""Operator training check: the operator's agreement with the reference (or the readers' consensus) against
the protocol's ``operator_training.min_agreement_dice``, recorded in the operator registry so that
``operators.protocol_training_status`` can count the operator as trained for that protocol."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from StandardSegLib.agreement.study import checked
from StandardSegLib.errors import InputError

if TYPE_CHECKING:
    from StandardSegLib.operators import OperatorRegistry
    from StandardSegLib.protocols import Protocol


def training_check(document: dict[str, Any], registry: OperatorRegistry, operator: str,
                   protocol: Protocol) -> dict[str, Any]:
    """The document with ``training_check`` filled in for the first reader, also saved in ``registry``."""
    import datetime as dt

    required = protocol.operator_training.get("min_agreement_dice")
    if required is None:
        raise InputError(f"protocol '{protocol.id}': operator_training sets no min_agreement_dice, so there is no "
                         f"agreement to check {operator} against")
    registry.get(operator)  # a one-line error for an unknown operator, before anything is recorded
    first = document["summary"][0]
    check = {"operator": operator, "reader": first["reader"], "protocol": protocol.id,
             "protocol_version": protocol.version, "against": first["against"], "mean_dice": first["mean_dice"],
             "min_agreement_dice": float(required), "lesions": len(document["lesions"]),
             "verdict": "pass" if first["mean_dice"] >= required else "fail", "date": dt.date.today().isoformat()}
    registry.record_agreement_check(operator, check)
    return checked({**document, "training_check": check})
