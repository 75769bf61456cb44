"""Operator registry: training validity, refreshers, persistence and the CLI."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from StandardSegLib.cli import main
from StandardSegLib.errors import InputError
from StandardSegLib.operators import Operator, OperatorRegistry, default_registry_path, training_status

TODAY = dt.date.today()


def test_training_valid_until_last_training_plus_validity():
    operator = Operator("Dr A", "radiologist", TODAY - dt.timedelta(days=400), (TODAY - dt.timedelta(days=30),))
    status = training_status(operator, validity_days=365, on_expiry="block", today=TODAY)
    assert status.verdict == "pass"
    assert status.last_training == TODAY - dt.timedelta(days=30)
    assert status.days_left == 335
    assert status.valid_until == TODAY + dt.timedelta(days=335)


@pytest.mark.parametrize("on_expiry, verdict", [("block", "fail"), ("warn", "warn")])
def test_expired_training_blocks_or_warns_as_the_protocol_says(on_expiry, verdict):
    operator = Operator("Dr B", "reader", TODAY - dt.timedelta(days=366))
    status = training_status(operator, validity_days=365, on_expiry=on_expiry, today=TODAY)
    assert status.verdict == verdict
    assert status.days_left == -1
    assert status.blocks is (verdict == "fail")
    assert "expired" in status.message


def test_last_valid_day_still_passes():
    operator = Operator("Dr C", "reader", TODAY - dt.timedelta(days=365))
    assert training_status(operator, 365, "block", today=TODAY).verdict == "pass"


def test_registry_round_trip_and_refusals(tmp_path):
    path = tmp_path / "sub" / "operators.json"
    registry = OperatorRegistry.open(path)
    registry.add("Dr A", TODAY - dt.timedelta(days=10), role="radiologist")
    registry.refresh("Dr A", TODAY)
    reopened = OperatorRegistry.open(path)
    assert reopened.get("Dr A").refreshed_on == (TODAY,)
    assert reopened.get("Dr A").role == "radiologist"
    with pytest.raises(InputError, match="already registered"):
        reopened.add("Dr A", TODAY)
    with pytest.raises(InputError, match="in the future"):
        reopened.add("Dr F", TODAY + dt.timedelta(days=1))
    with pytest.raises(InputError, match="not in the registry"):
        reopened.get("Nobody")
    assert not list(path.parent.glob(".operators-*"))  # no temporary files left behind


def test_corrupt_registry_is_a_clear_error(tmp_path):
    path = tmp_path / "operators.json"
    path.write_text("{not json")
    with pytest.raises(InputError, match="operators.json"):
        OperatorRegistry.open(path)


def test_default_location_honours_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("STANDARDSEG_OPERATORS_FILE", raising=False)
    monkeypatch.setenv("STANDARDSEG_HOME", str(tmp_path))
    assert default_registry_path() == tmp_path / "operators.json"
    monkeypatch.setenv("STANDARDSEG_OPERATORS_FILE", str(tmp_path / "x.json"))
    assert default_registry_path() == tmp_path / "x.json"


def test_cli_add_refresh_show_with_protocol(tmp_path, capsys):
    registry = str(tmp_path / "ops.json")
    old = (TODAY - dt.timedelta(days=800)).isoformat()
    assert main(["operators", "--registry", registry, "add", "Dr Old", "--trained-on", old]) == 0
    assert main(["operators", "--registry", registry, "add", "Dr New", "--trained-on", TODAY.isoformat()]) == 0
    capsys.readouterr()
    assert main(["operators", "--registry", registry, "list", "--json", "--protocol", "fdg-pet-ct-oncology"]) == 0
    entries = {entry["name"]: entry for entry in json.loads(capsys.readouterr().out)}
    assert entries["Dr New"]["training"]["verdict"] == "pass"
    assert entries["Dr Old"]["training"]["verdict"] in ("warn", "fail")
    assert main(["operators", "--registry", registry, "refresh", "Dr Old"]) == 0
    capsys.readouterr()
    assert main(["operators", "--registry", registry, "show", "Dr Old", "--json",
                 "--protocol", "fdg-pet-ct-oncology"]) == 0
    assert json.loads(capsys.readouterr().out)["training"]["verdict"] == "pass"


def test_cli_errors_are_one_line(tmp_path, capsys):
    registry = str(tmp_path / "ops.json")
    assert main(["operators", "--registry", registry, "add", "Dr X", "--trained-on", "yesterday"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "YYYY-MM-DD" in err and "Traceback" not in err
