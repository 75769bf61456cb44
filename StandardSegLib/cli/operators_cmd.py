"""``standardseg operators add|list|refresh|show``: the operator training registry.

With ``--protocol ID`` the training status is judged against that protocol's ``operator_training`` rule
(validity in days, block or warn on expiry). JSON output per operator: ``name``, ``role``, ``trained_on``,
``refreshed_on`` (list of dates) and, with a protocol, ``training`` (``last_training``, ``valid_until``,
``days_left``, ``validity_days``, ``on_expiry``, ``verdict`` pass/warn/fail, ``message``).
"""

from __future__ import annotations

import argparse
import datetime as dt
from typing import TYPE_CHECKING, Any, Optional

from StandardSegLib.cli.output import print_json, print_table
from StandardSegLib.operators import Operator, OperatorRegistry, parse_date, protocol_training_status
from StandardSegLib.protocols import add_protocol_dir_argument, library_from_args

if TYPE_CHECKING:
    from StandardSegLib.protocols import Protocol


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "operators", help="manage trained operators (training date, refreshers)",
        description="Operators and their training (ESR/EORTC consensus: training with refreshment). "
        "The registry file defaults to the per-user data folder; override with --registry or "
        "STANDARDSEG_OPERATORS_FILE.")
    parser.add_argument("--registry", metavar="FILE", help="operator registry JSON file")
    add_protocol_dir_argument(parser)
    actions = parser.add_subparsers(title="actions", metavar="ACTION", required=True)

    add = actions.add_parser("add", help="register a trained operator")
    add.add_argument("name")
    add.add_argument("--trained-on", required=True, metavar="YYYY-MM-DD", help="date of the initial training")
    add.add_argument("--role", default="reader", help="e.g. radiologist, nuclear physician, physicist")
    add.set_defaults(func=_add)

    refresh = actions.add_parser("refresh", help="record a refresher course")
    refresh.add_argument("name")
    refresh.add_argument("--date", metavar="YYYY-MM-DD", help="date of the refresher (default: today)")
    refresh.set_defaults(func=_refresh)

    for name, handler, help_text in (("list", _list, "list operators"), ("show", _show, "show one operator")):
        action = actions.add_parser(name, help=help_text)
        if name == "show":
            action.add_argument("name")
        action.add_argument("--protocol", metavar="ID", help="judge training validity against this protocol")
        action.add_argument("--json", action="store_true", help="machine-readable output")
        action.set_defaults(func=handler)


def _add(args: argparse.Namespace) -> int:
    registry = OperatorRegistry.open(args.registry)
    operator = registry.add(args.name, parse_date(args.trained_on, "--trained-on"), role=args.role)
    print(f"added {operator.name} ({operator.role}, trained {operator.trained_on.isoformat()}) to {registry.path}")
    return 0


def _refresh(args: argparse.Namespace) -> int:
    registry = OperatorRegistry.open(args.registry)
    day = parse_date(args.date, "--date") if args.date else dt.date.today()
    operator = registry.refresh(args.name, day)
    print(f"recorded refresher for {operator.name} on {day.isoformat()} in {registry.path}")
    return 0


def _list(args: argparse.Namespace) -> int:
    registry = OperatorRegistry.open(args.registry)
    protocol = _protocol(args)
    entries = [_entry(operator, protocol) for _, operator in sorted(registry.operators.items())]
    if args.json:
        print_json(entries)
        return 0
    if not entries:
        print(f"no operators registered in {registry.path}")
        return 0
    header = ("name", "role", "last training") + (("status",) if protocol else ())
    rows = [(e["name"], e["role"], _last(e)) + ((e["training"]["message"],) if protocol else ()) for e in entries]
    print_table(rows, header)
    return 0


def _show(args: argparse.Namespace) -> int:
    registry = OperatorRegistry.open(args.registry)
    entry = _entry(registry.get(args.name), _protocol(args))
    if args.json:
        print_json(entry)
        return 0
    print(f"name:         {entry['name']}\nrole:         {entry['role']}\ntrained on:   {entry['trained_on']}")
    print(f"refreshers:   {', '.join(entry['refreshed_on']) or 'none'}")
    for check in entry["agreement_checks"]:
        print(f"agreement:    {check.get('date')} {check.get('protocol')}: {check.get('verdict')} "
              f"(mean Dice {check['mean_dice']:.3f}, required {check.get('min_agreement_dice')})")
    if "training" in entry:
        print(f"status:       {entry['training']['verdict']} - {entry['training']['message']}")
    return 0


def _protocol(args: argparse.Namespace) -> Optional[Protocol]:
    return library_from_args(args).get(args.protocol) if args.protocol else None


def _entry(operator: Operator, protocol: Optional[Protocol]) -> dict[str, Any]:
    entry = operator.to_dict()
    if protocol:
        entry["training"] = protocol_training_status(operator, protocol).to_dict()
    return entry


def _last(entry: dict[str, Any]) -> str:
    return max([entry["trained_on"], *entry["refreshed_on"]])
