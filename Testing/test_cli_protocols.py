"""``standardseg protocols list|show|validate`` end to end through ``StandardSegLib.cli.main``."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from StandardSegLib.cli import main
from StandardSegLib.protocols import ENV_VAR
from StandardSegLib.resources import resource_path

BUILTIN_DIR = resource_path("Protocols")


@pytest.fixture(autouse=True)
def _no_user_protocol_path(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)


def _sha256_of(path: Path) -> str:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _site_copy(directory: Path, protocol_id: str, **changes) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    document = yaml.safe_load((BUILTIN_DIR / f"{protocol_id}.yaml").read_text(encoding="utf-8"))
    document.update(changes)
    path = directory / f"{protocol_id}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def _assert_one_line_error(capsys, *fragments: str) -> str:
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith("standardseg: error: ")
    assert "Traceback" not in captured.err
    for fragment in fragments:
        assert fragment in captured.err, captured.err
    return captured.err


def test_list_json_covers_ct_mr_pt_with_full_hashes(capsys):
    assert main(["protocols", "list", "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert len(entries) >= 10
    assert {entry["modality"] for entry in entries} == {"CT", "MR", "PT"}
    assert [entry["id"] for entry in entries] == sorted(entry["id"] for entry in entries)
    for entry in entries:
        path = Path(entry["source_path"])
        assert entry["origin"] == "builtin" and entry["overrides"] == []
        assert entry["sha256"] == _sha256_of(path) and path.name == f"{entry['id']}.yaml"
        assert entry["organs"] and entry["title"] and entry["version"] in ("1.0.0", "1.1.0")


def test_list_text_has_a_row_per_protocol(capsys):
    assert main(["protocols", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["id", "version", "modality", "organs", "title", "origin", "sha256"]
    fdg = next(line for line in lines if line.startswith("fdg-pet-ct-oncology "))
    assert _sha256_of(BUILTIN_DIR / "fdg-pet-ct-oncology.yaml")[:12] in fdg and "builtin" in fdg
    assert len(lines) - 1 == len(list(BUILTIN_DIR.glob("*.yaml")))


def test_protocol_dir_overrides_builtin_and_says_so(tmp_path, capsys):
    path = _site_copy(tmp_path / "site", "ct-brain", title="Site CT brain")
    assert main(["protocols", "--protocol-dir", str(tmp_path / "site"), "list", "--json"]) == 0
    entry = next(e for e in json.loads(capsys.readouterr().out) if e["id"] == "ct-brain")
    assert (entry["origin"], entry["title"], entry["source_path"]) == ("user", "Site CT brain", str(path))
    assert entry["overrides"] == [str(BUILTIN_DIR / "ct-brain.yaml")]
    assert main(["protocols", "--protocol-dir", str(tmp_path / "site"), "list"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("ct-brain "))
    assert "user (overrides builtin)" in row


def test_environment_variable_folder(tmp_path, monkeypatch, capsys):
    _site_copy(tmp_path / "env", "mr-liver", title="MR liver from the environment")
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "env"))
    assert main(["protocols", "show", "mr-liver", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["origin"] == "user" and shown["document"]["title"] == "MR liver from the environment"


def test_show_json_is_the_whole_document(capsys):
    path = BUILTIN_DIR / "fdg-pet-ct-oncology.yaml"
    assert main(["protocols", "show", "fdg-pet-ct-oncology", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["document"] == yaml.safe_load(path.read_text(encoding="utf-8"))
    assert (shown["id"], shown["version"], shown["origin"]) == ("fdg-pet-ct-oncology", "1.1.0", "builtin")
    assert shown["sha256"] == _sha256_of(path) and shown["source_path"] == str(path)


def test_show_text_summarises_presets_gate_and_methods(capsys):
    assert main(["protocols", "show", "ct-liver-lesion"]) == 0
    out = capsys.readouterr().out
    assert "liver: W 150 / L 90 HU (shows 15 to 165); allowed window 120 to 200, level 60 to 110" in out
    assert "source: OHIF CT liver preset W150/L90" in out
    assert "slice_thickness_max [fail]: value_mm=2.5" in out
    assert "SNR = bg_mean/bg_sd >= 3 [fail]" in out
    assert "segmentation (default grow-from-seeds):" in out and "confidence-connected: multiplier=2.5, iterations=4" in out
    assert "operator training: valid 365 days" in out


def test_show_text_for_pet_lists_bounds_reference_and_tbr(capsys):
    assert main(["protocols", "show", "fdg-pet-ct-oncology"]) == 0
    out = capsys.readouterr().out
    assert "whole-body: W 5 / L 2.5 SUVbw (shows 0 to 5); allowed lower 0 to 0, upper 3 to 15" in out
    assert "TBR = lesion_max/bg_mean >= 2 [fail]" in out
    assert "QC: mean 1.3 to 3 SUVbw [warn]" in out and "fallback: blood-pool" in out


def test_show_unknown_id_lists_known_ids(capsys):
    assert main(["protocols", "show", "ct-livr"]) == 2
    _assert_one_line_error(capsys, "unknown protocol id 'ct-livr'", "ct-liver-lesion", "mr-prostate")


def test_validate_good_files(capsys):
    paths = [str(BUILTIN_DIR / "ct-brain.yaml"), str(BUILTIN_DIR / "pet-nema-iec-phantom.yaml")]
    assert main(["protocols", "validate", *paths]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"{paths[0]}: valid (ct-brain, 1.1.0, sha256 {_sha256_of(Path(paths[0]))})",
                     f"{paths[1]}: valid (pet-nema-iec-phantom, 1.1.0, sha256 {_sha256_of(Path(paths[1]))})"]


def test_validate_bad_file_exits_2_with_one_line(tmp_path, capsys):
    document = yaml.safe_load((BUILTIN_DIR / "ct-liver-lesion.yaml").read_text(encoding="utf-8"))
    document["window_presets"]["liver"]["window"] = "wide"
    path = tmp_path / "ct-liver.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    assert main(["protocols", "validate", str(path)]) == 2
    _assert_one_line_error(capsys, f"{path}: window_presets.liver.window: expected a number > 0, found 'wide'")


def test_validate_yaml_syntax_error_and_missing_file(tmp_path, capsys):
    path = tmp_path / "broken.yaml"
    path.write_text("id: ct-x\ntitle: [unclosed\n", encoding="utf-8")
    assert main(["protocols", "validate", str(path)]) == 2
    _assert_one_line_error(capsys, "broken.yaml: line ", "invalid YAML")
    assert main(["protocols", "validate", str(tmp_path / "absent.yaml")]) == 2
    _assert_one_line_error(capsys, "absent.yaml: expected a protocol file, found no such file")


def test_missing_protocol_dir_is_one_line(tmp_path, capsys):
    assert main(["protocols", "--protocol-dir", str(tmp_path / "nowhere"), "list"]) == 2
    _assert_one_line_error(capsys, "nowhere", "--protocol-dir")
