"""Operator registry: who may segment, when they were trained, and whether that training is still valid.

The ESR/EORTC consensus (deSouza et al. 2022, recommendation 1) makes operator training *with refreshment*
mandatory in trials and research. Each protocol states how long a training stays valid
(``operator_training.validity_days``) and whether an expired one blocks segmentation or only warns.

The registry is one JSON file per user. Its location, first match wins:
1. an explicit path (CLI ``--registry FILE``, or the ``path`` argument);
2. the environment variable ``STANDARDSEG_OPERATORS_FILE``;
3. ``$STANDARDSEG_HOME/operators.json`` when ``STANDARDSEG_HOME`` is set;
4. the per-user data folder: ``$XDG_DATA_HOME/standardseg`` (default ``~/.local/share/standardseg``) on
   Linux, ``~/Library/Application Support/StandardSeg`` on macOS, ``%APPDATA%\\StandardSeg`` on Windows.
Writes are atomic (temporary file, then rename), so a crash never leaves a half-written registry.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Optional

from StandardSegLib.errors import InputError

if TYPE_CHECKING:
    from StandardSegLib.protocols import Protocol

REGISTRY_FORMAT = "standardseg-operators"
REGISTRY_VERSION = 1


@dataclass(frozen=True)
class Operator:
    """One trained reader. Dates are calendar dates (training is valid for whole days)."""

    name: str
    role: str
    trained_on: dt.date
    refreshed_on: tuple[dt.date, ...] = ()
    #: reader-agreement checks (``standardseg agreement --operator``): operator, protocol, mean_dice,
    #: min_agreement_dice, verdict, date ...
    agreement_checks: tuple[Mapping[str, Any], ...] = ()

    @property
    def last_training(self) -> dt.date:
        """The most recent of the initial training and any refresher."""
        return max((self.trained_on, *self.refreshed_on))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "trained_on": self.trained_on.isoformat(),
            "refreshed_on": [day.isoformat() for day in self.refreshed_on],
            "agreement_checks": [dict(check) for check in self.agreement_checks],
        }


@dataclass(frozen=True)
class TrainingStatus:
    """An operator's training judged against one protocol's rule."""

    operator: str
    last_training: dt.date
    valid_until: dt.date
    days_left: int
    validity_days: int
    on_expiry: str  # "block" or "warn"
    verdict: str  # "pass", "warn" or "fail"
    message: str

    @property
    def blocks(self) -> bool:
        return self.verdict == "fail"

    def to_dict(self) -> dict[str, Any]:
        return {
            "operator": self.operator,
            "last_training": self.last_training.isoformat(),
            "valid_until": self.valid_until.isoformat(),
            "days_left": self.days_left,
            "validity_days": self.validity_days,
            "on_expiry": self.on_expiry,
            "verdict": self.verdict,
            "message": self.message,
        }


def training_status(operator: Operator, validity_days: int, on_expiry: str,
                    today: Optional[dt.date] = None) -> TrainingStatus:
    """Judge whether ``operator``'s last training is within ``validity_days`` of ``today``.

    The training is valid up to and including ``last_training + validity_days``. Once expired the verdict
    is "fail" when the protocol says ``on_expiry: block`` and "warn" when it says ``warn``.
    """
    if on_expiry not in ("block", "warn"):
        raise InputError(f"operator_training.on_expiry: expected 'block' or 'warn', found {on_expiry!r}")
    today = today or dt.date.today()
    valid_until = operator.last_training + dt.timedelta(days=validity_days)
    days_left = (valid_until - today).days
    if days_left >= 0:
        verdict = "pass"
        message = f"training valid until {valid_until.isoformat()} ({days_left} day(s) left)"
    else:
        verdict = "fail" if on_expiry == "block" else "warn"
        message = (f"training expired on {valid_until.isoformat()} ({-days_left} day(s) ago; valid "
                   f"{validity_days} days): a refresher is due ({'blocks' if verdict == 'fail' else 'warning only'})")
    return TrainingStatus(operator.name, operator.last_training, valid_until, days_left, validity_days,
                          on_expiry, verdict, message)


def protocol_training_status(operator: Operator, protocol: Protocol,
                             today: Optional[dt.date] = None) -> TrainingStatus:
    """The operator's training judged by ``protocol.operator_training``: the validity period, and, when the
    protocol sets ``min_agreement_dice``, a recorded agreement check for this protocol reaching it (an
    operator is marked trained only then; without one ``on_expiry`` decides between fail and warn)."""
    rule = protocol.operator_training
    status = training_status(operator, int(rule["validity_days"]), rule["on_expiry"], today)
    required = rule.get("min_agreement_dice")
    if required is None or status.verdict == "fail":
        return status
    passed = [check for check in operator.agreement_checks
              if check.get("protocol") == protocol.id and check.get("mean_dice", 0.0) >= required]
    if passed:
        last = passed[-1]
        return replace(status, message=f"{status.message}; agreement check of {last.get('date')} passed "
                                       f"(mean Dice {last['mean_dice']:.3f} >= {required:g})")
    verdict = "fail" if rule["on_expiry"] == "block" else "warn"
    return replace(status, verdict=verdict,
                   message=f"{status.message}; not yet marked trained for {protocol.id}: no agreement check with a "
                           f"mean Dice >= {required:g} recorded ('standardseg agreement --operator')")


def default_registry_path() -> Path:
    """Where the registry lives when no explicit path is given (see the module docstring)."""
    if os.environ.get("STANDARDSEG_OPERATORS_FILE"):
        return Path(os.environ["STANDARDSEG_OPERATORS_FILE"]).expanduser()
    if os.environ.get("STANDARDSEG_HOME"):
        return Path(os.environ["STANDARDSEG_HOME"]).expanduser() / "operators.json"
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming")) / "StandardSeg"
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support" / "StandardSeg"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "standardseg"
    return base / "operators.json"


@dataclass
class OperatorRegistry:
    """The operators stored in one registry file. Mutating methods save immediately and atomically."""

    path: Path
    operators: dict[str, Operator] = field(default_factory=dict)

    @classmethod
    def open(cls, path: Optional[os.PathLike | str] = None) -> "OperatorRegistry":
        """Open the registry at ``path`` (or the default location); a missing file is an empty registry."""
        registry_path = Path(path).expanduser() if path else default_registry_path()
        if not registry_path.exists():
            return cls(registry_path)
        try:
            document = json.loads(registry_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise InputError(f"{registry_path}: not a readable operator registry ({error})") from None
        return cls(registry_path, _operators_from_document(document, registry_path))

    def get(self, name: str) -> Operator:
        try:
            return self.operators[name]
        except KeyError:
            known = ", ".join(sorted(self.operators)) or "none registered"
            raise InputError(f"operator '{name}' is not in the registry {self.path} (known: {known}); "
                             f"add them with 'standardseg operators add'") from None

    def add(self, name: str, trained_on: dt.date, role: str = "reader") -> Operator:
        """Register a new operator; an existing name is refused rather than silently replaced."""
        name = name.strip()
        if not name:
            raise InputError("operator name: expected a non-empty name")
        if name in self.operators:
            raise InputError(f"operator '{name}' is already registered in {self.path}; "
                             f"use 'standardseg operators refresh' to record a refresher")
        _check_not_future(trained_on, "training date")
        operator = Operator(name=name, role=role, trained_on=trained_on)
        self.operators[name] = operator
        self.save()
        return operator

    def refresh(self, name: str, on: dt.date) -> Operator:
        """Record a refresher course taken on ``on``."""
        operator = self.get(name)
        _check_not_future(on, "refresher date")
        if on < operator.trained_on:
            raise InputError(f"refresher date {on.isoformat()} is before {name}'s initial training "
                             f"({operator.trained_on.isoformat()})")
        updated = replace(operator, refreshed_on=tuple(sorted({*operator.refreshed_on, on})))
        self.operators[name] = updated
        self.save()
        return updated

    def record_agreement_check(self, name: str, check: Mapping[str, Any]) -> Operator:
        """Append a reader-agreement check (passed or failed: both are history) to ``name``'s record."""
        operator = self.get(name)
        updated = replace(operator, agreement_checks=(*operator.agreement_checks, dict(check)))
        self.operators[name] = updated
        self.save()
        return updated

    def save(self) -> None:
        document = {
            "format": REGISTRY_FORMAT,
            "version": REGISTRY_VERSION,
            "operators": [self.operators[name].to_dict() for name in sorted(self.operators)],
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".operators-", suffix=".json", dir=self.path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                json.dump(document, stream, indent=2)
                stream.write("\n")
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def parse_date(text: str, what: str) -> dt.date:
    """Parse an ISO date (YYYY-MM-DD) given on the command line or in a file."""
    try:
        return dt.date.fromisoformat(text)
    except (TypeError, ValueError):
        raise InputError(f"{what}: expected a date as YYYY-MM-DD, found {text!r}") from None


def _check_not_future(day: dt.date, what: str) -> None:
    if day > dt.date.today():
        raise InputError(f"{what} {day.isoformat()} is in the future")


def _operators_from_document(document: Any, path: Path) -> dict[str, Operator]:
    if not isinstance(document, Mapping) or document.get("format") != REGISTRY_FORMAT:
        raise InputError(f"{path}: expected a StandardSeg operator registry (format '{REGISTRY_FORMAT}')")
    operators: dict[str, Operator] = {}
    for position, entry in enumerate(document.get("operators", [])):
        where = f"{path}: operators[{position}]"
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
            raise InputError(f"{where}: expected an object with a 'name'")
        operators[entry["name"]] = Operator(
            name=entry["name"],
            role=str(entry.get("role", "reader")),
            trained_on=parse_date(entry.get("trained_on"), f"{where}.trained_on"),
            refreshed_on=tuple(parse_date(day, f"{where}.refreshed_on") for day in entry.get("refreshed_on", [])),
            agreement_checks=tuple(_agreement_checks(entry.get("agreement_checks", []), f"{where}.agreement_checks")),
        )
    return operators


def _agreement_checks(checks: Any, where: str) -> list[Mapping[str, Any]]:
    if not isinstance(checks, list) or not all(isinstance(check, Mapping) and isinstance(check.get("mean_dice"),
                                                                                     (int, float)) for check in checks):
        raise InputError(f"{where}: expected a list of checks, each with a numeric 'mean_dice'")
    return checks
