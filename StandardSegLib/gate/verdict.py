"""Gate results: one item per protocol rule, an overall verdict, and a recorded override.

The ESR/EORTC consensus (recommendation 2) asks that images meet the SOP's specification *before* anyone
segments. Every item names the rule it came from (its ``source`` in the protocol), the value measured, the
threshold and the unit, so a reader — and the report — can see why an image passed or failed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, replace
from typing import Any, Optional

from StandardSegLib.errors import GateFailedError, InputError

PASS, WARN, FAIL = "pass", "warn", "fail"
_RANK = {PASS: 0, WARN: 1, FAIL: 2}


@dataclass(frozen=True)
class GateItem:
    """One evaluated rule.

    ``severity`` is what the protocol says a violation means ("fail" = mandatory, "warn" = advisory);
    ``verdict`` is the outcome. A rule that cannot be evaluated (missing tag, missing ROI) is not a pass: it
    gets the verdict its severity implies and says what is missing.
    """

    id: str
    kind: str  # "spec", "metric", "reference" or "operator"
    verdict: str
    severity: str
    rule: str
    message: str
    measured: Any = None
    threshold: Any = None
    unit: Optional[str] = None
    definition: Optional[str] = None
    source: Optional[str] = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def violation(severity: str) -> str:
    """The verdict of a violated (or unevaluable) rule of the given severity."""
    if severity not in (FAIL, WARN):
        raise InputError(f"gate rule severity: expected 'fail' or 'warn', found {severity!r}")
    return severity


@dataclass(frozen=True)
class Override:
    """A documented decision to segment although the gate failed."""

    operator: str
    reason: str
    timestamp: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class GateVerdict:
    """All items of one gate evaluation and the overall outcome."""

    protocol_id: str
    protocol_version: str
    protocol_sha256: str
    items: tuple[GateItem, ...]
    override: Optional[Override] = None

    @property
    def overall(self) -> str:
        """"fail" if any mandatory rule failed, else "warn" if any advisory rule was violated, else "pass"."""
        return max((item.verdict for item in self.items), key=_RANK.__getitem__, default=PASS)

    @property
    def allows_segmentation(self) -> bool:
        return self.overall != FAIL or self.override is not None

    @property
    def failures(self) -> tuple[GateItem, ...]:
        return tuple(item for item in self.items if item.verdict == FAIL)

    def item(self, item_id: str) -> GateItem:
        for item in self.items:
            if item.id == item_id:
                return item
        raise KeyError(item_id)

    def with_override(self, operator: str, reason: str, now: Optional[dt.datetime] = None) -> "GateVerdict":
        """Record an override. Both the operator and a written reason are required."""
        if not operator or not operator.strip():
            raise InputError("gate override: an operator name is required")
        if not reason or not reason.strip():
            raise InputError("gate override: a written reason is required")
        stamp = (now or dt.datetime.now(dt.timezone.utc)).isoformat(timespec="seconds")
        return replace(self, override=Override(operator.strip(), reason.strip(), stamp))

    def require_segmentation_allowed(self) -> None:
        """Raise GateFailedError unless the gate passed (warnings allowed) or was overridden."""
        if self.allows_segmentation:
            return
        reasons = "; ".join(f"{item.id}: {item.message}" for item in self.failures)
        raise GateFailedError(f"image check failed for protocol {self.protocol_id} ({reasons}); "
                              "segmentation needs a passing gate or an override with a written reason")

    def to_dict(self) -> dict[str, Any]:
        return {
            "protocol": {"id": self.protocol_id, "version": self.protocol_version, "sha256": self.protocol_sha256},
            "overall": self.overall,
            "allows_segmentation": self.allows_segmentation,
            "override": self.override.to_dict() if self.override else None,
            "items": [item.to_dict() for item in self.items],
        }
