"""The SOP protocol library: built-ins, schema, semantic checks, hashing, user folders, window presets."""

from __future__ import annotations

import copy
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import yaml
from jsonschema import Draft202012Validator

from StandardSegLib.errors import InputError, ProtocolError
from StandardSegLib.protocols import (BUILTIN, ENV_VAR, USER, WindowPreset, load_library, load_protocol_file)
from StandardSegLib.resources import resource_path

BUILTIN_DIR = resource_path("Protocols")
BUILTIN_FILES = sorted(BUILTIN_DIR.glob("*.yaml"))


def builtin_document(protocol_id: str) -> dict[str, Any]:
    """A built-in's document parsed with plain PyYAML (independent of the library's loader)."""
    return yaml.safe_load((BUILTIN_DIR / f"{protocol_id}.yaml").read_text(encoding="utf-8"))


def write_yaml(path: Path, document: Any) -> Path:
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def expected_sha256(document: Any) -> str:
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def reverse_key_order(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: reverse_key_order(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return [reverse_key_order(item) for item in value]
    return value


# ---- built-ins -------------------------------------------------------------------------------------------


def test_schema_is_a_valid_draft_2020_12_schema():
    schema = json.loads(resource_path("Schemas", "protocol.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_at_least_ten_builtins_cover_ct_mr_pt():
    library = load_library(environ={})
    protocols = library.all()
    assert len(protocols) >= 10 and len(BUILTIN_FILES) == len(protocols)
    assert {p.modality for p in protocols} == {"CT", "MR", "PT"}
    assert {"ct-lung-nodule", "ct-liver-lesion", "ct-brain", "ct-bone-lesion", "ct-soft-tissue-lymph-node",
            "mr-brain-tumour", "mr-prostate", "mr-liver", "fdg-pet-ct-oncology", "pet-nema-iec-phantom"} <= {
        p.id for p in protocols}
    for protocol in protocols:
        assert protocol.origin == BUILTIN
        assert protocol.source_path.name == f"{protocol.id}.yaml"


@pytest.mark.parametrize("path", BUILTIN_FILES, ids=lambda path: path.stem)
def test_builtin_validates_and_hash_is_sha256_of_canonical_json(path):
    protocol = load_protocol_file(path, BUILTIN)
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert protocol.content_sha256 == expected_sha256(document)
    assert load_protocol_file(path, BUILTIN).content_sha256 == protocol.content_sha256  # stable on reload
    assert protocol.to_dict() == document


@pytest.mark.parametrize("path", BUILTIN_FILES, ids=lambda path: path.stem)
def test_builtin_numbers_have_sources_and_presets_allow_their_defaults(path):
    protocol = load_protocol_file(path)
    for preset in protocol.window_presets.values():
        assert preset.allows(preset.window, preset.level), preset
        assert preset.source.strip()
    assert all(rule["source"].strip() for rule in protocol.image_spec)
    assert all(rule["source"].strip() for rule in protocol.quality_metrics.values())
    assert all(entry["source"].strip() for entry in protocol.reference_tissue)
    # the consensus gives no gate numbers: every gate threshold must say it is a study-specific example
    assert all("study-specific" in rule["source"] for rule in protocol.quality_metrics.values())


@pytest.mark.parametrize("path", BUILTIN_FILES, ids=lambda path: path.stem)
def test_builtin_radiomics_section_is_accepted_by_pyradiomics(path):
    featureextractor = pytest.importorskip("radiomics.featureextractor")
    parameters = load_protocol_file(path).radiomics
    extractor = featureextractor.RadiomicsFeatureExtractor(parameters)  # validates against pyradiomics' schema
    assert extractor.settings["binWidth"] == parameters["setting"]["binWidth"]
    assert set(extractor.enabledFeatures) == set(parameters["featureClass"])


def test_pyradiomics_rejects_what_the_protocol_schema_lets_through_to_it():
    """The schema checks the parameter-file structure; pyradiomics checks the settings themselves."""
    featureextractor = pytest.importorskip("radiomics.featureextractor")
    pykwalify_errors = pytest.importorskip("pykwalify.errors")
    parameters = load_protocol_file(BUILTIN_DIR / "ct-liver-lesion.yaml").radiomics
    parameters["setting"]["binWidth"] = "wide"
    with pytest.raises(pykwalify_errors.SchemaError):
        featureextractor.RadiomicsFeatureExtractor(parameters)


def test_fdg_protocol_numbers_match_the_standards():
    protocol = load_library(environ={}).get("fdg-pet-ct-oncology")
    spec = {rule["check"]: rule for rule in protocol.image_spec}
    assert (spec["uptake_time_window"]["min_min"], spec["uptake_time_window"]["max_min"]) == (55, 75)
    assert spec["slice_thickness_max"]["value_mm"] == 5.0
    assert spec["corrected_image"]["required"] == ["ATTN", "DECY"]
    metrics = protocol.quality_metrics
    assert metrics["tbr"] == {**metrics["tbr"], "definition": "lesion_max/bg_mean", "min": 2.0, "severity": "fail"}
    assert metrics["snr"]["definition"] == "bg_mean/bg_sd" and metrics["snr"]["min"] <= 5.0
    liver, blood = protocol.reference_tissue
    # PERCIST: 3 cm sphere in the liver, 1 cm x 2 cm aortic cylinder; EANM liver SUV plausibility 1.3-3.0
    assert (liver["shape"], liver["diameter_mm"], liver["fallback"]) == ("sphere", 30, "blood-pool")
    assert (blood["shape"], blood["diameter_mm"], blood["length_mm"]) == ("cylinder", 10, 20)
    assert (liver["qc"]["min"], liver["qc"]["max"], liver["qc"]["unit"]) == (1.3, 3.0, "SUVbw")
    assert protocol.segmentation_methods["pet-percent-max"]["percent"] == 41
    assert protocol.default_window_preset.organ == "whole-body"
    assert (protocol.default_window_preset.lower, protocol.default_window_preset.upper) == (0.0, 5.0)


def test_ct_slice_limits_follow_qiba():
    library = load_library(environ={})
    limits = {p.id: next(r["value_mm"] for r in p.image_spec if r["check"] == "slice_thickness_max")
              for p in library.all() if p.modality == "CT"}
    assert limits["ct-lung-nodule"] == 1.5
    assert all(limit in (2.5, 5.0) for key, limit in limits.items() if key != "ct-lung-nodule")


def test_phantom_bands_are_earl_and_the_tbr_gate_is_passable():
    protocol = load_library(environ={}).get("pet-nema-iec-phantom")
    phantom = protocol.phantom
    assert phantom["sphere_inner_diameters_mm"] == [37, 28, 22, 17, 13, 10]
    bands = phantom["recovery_coefficient_bands"]
    assert bands["EARL1"]["rc_a50"][0] == [0.76, 0.89] and bands["EARL2"]["rc_max"][-1] == [0.52, 0.88]
    # at the 10:1 filling, lesion_max / bg_mean ~ ratio * RC_max: the lowest band edge of the smallest sphere
    # must still pass the protocol's TBR threshold, or a compliant scanner would fail its own phantom gate
    lowest_rc_max = min(band[0] for standard in bands.values() for band in standard["rc_max"])
    assert phantom["sphere_to_background_ratio"] * lowest_rc_max >= protocol.quality_metrics["tbr"]["min"]


def test_mr_prostate_has_t2w_and_adc_inputs():
    protocol = load_library(environ={}).get("mr-prostate")
    assert [entry["role"] for entry in protocol.inputs] == ["T2W", "ADC"]
    assert all(preset.unit == "percentile" for preset in protocol.window_presets.values())


# ---- the Protocol object ---------------------------------------------------------------------------------


def test_document_is_read_only_and_accessors_return_copies():
    protocol = load_protocol_file(BUILTIN_DIR / "fdg-pet-ct-oncology.yaml")
    with pytest.raises(TypeError):
        protocol.document["id"] = "other"  # type: ignore[index]
    with pytest.raises(TypeError):
        protocol.document["window_presets"]["whole-body"]["upper"] = 99  # type: ignore[index]
    methods = protocol.segmentation_methods
    methods["pet-percent-max"]["percent"] = 99
    protocol.image_spec.clear()
    assert protocol.segmentation_methods["pet-percent-max"]["percent"] == 41
    assert len(protocol.image_spec) == len(builtin_document("fdg-pet-ct-oncology")["image_spec"])
    assert protocol.content_sha256 == expected_sha256(protocol.to_dict())
    assert protocol.longitudinal_must_match[:3] == ["Manufacturer", "ManufacturerModelName", "SoftwareVersions"]
    assert protocol.operator_training["validity_days"] == 365
    hash(protocol)  # usable as a dict key despite the mapping inside


def test_hash_ignores_comments_key_order_and_style_but_not_values(tmp_path):
    original = load_protocol_file(BUILTIN_DIR / "ct-liver-lesion.yaml")
    document = builtin_document("ct-liver-lesion")
    restyled = tmp_path / "restyled.yaml"
    restyled.write_text("# a comment that changes nothing\n" + yaml.safe_dump(
        reverse_key_order(document), sort_keys=False, default_flow_style=True, width=60), encoding="utf-8")
    assert load_protocol_file(restyled).content_sha256 == original.content_sha256

    changed = copy.deepcopy(document)
    changed["quality_metrics"]["snr"]["min"] = 3.5
    assert load_protocol_file(write_yaml(tmp_path / "changed.yaml", changed)).content_sha256 != original.content_sha256


def test_hash_distinguishes_integer_and_float(tmp_path):
    """Documented: YAML 5 and 5.0 are different JSON values, so they hash differently."""
    document = builtin_document("ct-liver-lesion")
    document["image_spec"][1]["value_mm"] = 2
    as_int = load_protocol_file(write_yaml(tmp_path / "a.yaml", document)).content_sha256
    document["image_spec"][1]["value_mm"] = 2.0
    assert load_protocol_file(write_yaml(tmp_path / "b.yaml", document)).content_sha256 != as_int


# ---- the library: user folders and the environment -------------------------------------------------------


def _user_copy(directory: Path, protocol_id: str, title: str, name: str = "") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    document = builtin_document(protocol_id)
    document["title"] = title
    return write_yaml(directory / (name or f"{protocol_id}.yaml"), document)


def test_user_dir_overrides_builtin(tmp_path):
    path = _user_copy(tmp_path / "site", "fdg-pet-ct-oncology", "Site FDG protocol")
    library = load_library([tmp_path / "site"], environ={})
    protocol = library.get("fdg-pet-ct-oncology")
    assert (protocol.title, protocol.origin, protocol.source_path) == ("Site FDG protocol", USER, path)
    replaced = library.overridden("fdg-pet-ct-oncology")
    assert [p.origin for p in replaced] == [BUILTIN] and replaced[0].title.startswith("FDG PET/CT")
    assert library.overridden("ct-brain") == ()
    assert len(library) == len(BUILTIN_FILES)


def test_environment_variable_adds_folders_and_command_line_wins(tmp_path, monkeypatch):
    _user_copy(tmp_path / "env", "ct-brain", "From the environment")
    _user_copy(tmp_path / "env2", "mr-liver", "Second env folder")
    monkeypatch.setenv(ENV_VAR, f"{tmp_path / 'env'}{os.pathsep}{tmp_path / 'env2'}")
    library = load_library()
    assert library.get("ct-brain").title == "From the environment"
    assert library.get("mr-liver").title == "Second env folder"
    _user_copy(tmp_path / "cli", "ct-brain", "From --protocol-dir")
    library = load_library([tmp_path / "cli"])
    assert library.get("ct-brain").title == "From --protocol-dir"
    assert [p.title for p in library.overridden("ct-brain")] == ["From the environment", "CT brain lesion volumetry"]


def test_user_protocol_with_a_new_id_is_added(tmp_path):
    document = builtin_document("ct-brain")
    document["id"] = "ct-brain-site"
    (tmp_path / "site").mkdir()
    write_yaml(tmp_path / "site" / "ct-brain-site.yml", document)
    library = load_library([tmp_path / "site"], environ={})
    assert "ct-brain-site" in library and len(library) == len(BUILTIN_FILES) + 1


def test_unknown_id_lists_known_ids():
    with pytest.raises(ProtocolError) as caught:
        load_library(environ={}).get("ct-livr")
    message = str(caught.value)
    assert "'ct-livr'" in message and "ct-liver-lesion" in message and "fdg-pet-ct-oncology" in message


def test_duplicate_ids_in_one_user_dir(tmp_path):
    _user_copy(tmp_path / "site", "ct-brain", "first", "a.yaml")
    _user_copy(tmp_path / "site", "ct-brain", "second", "b.yaml")
    with pytest.raises(ProtocolError) as caught:
        load_library([tmp_path / "site"], environ={})
    message = str(caught.value)
    assert "b.yaml: id: expected an id unique within" in message and "'ct-brain'" in message and "a.yaml" in message


def test_missing_protocol_dir(tmp_path):
    with pytest.raises(ProtocolError, match="nowhere.*expected a folder of protocol files"):
        load_library([tmp_path / "nowhere"], environ={})
    with pytest.raises(ProtocolError, match=ENV_VAR):
        load_library(environ={ENV_VAR: str(tmp_path / "nowhere")})


def test_bad_user_file_fails_the_library_load(tmp_path):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "broken.yaml").write_text("id: [unclosed\n", encoding="utf-8")
    with pytest.raises(ProtocolError, match="broken.yaml: line"):
        load_library([tmp_path / "site"], environ={})


# ---- bad protocol files: one-line ProtocolError naming the file and the key path -------------------------

Mutation = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Mutation:
    """Mutation setting a dotted path (list indices as integers) to ``value``."""
    def mutate(document: dict[str, Any]) -> None:
        *parents, last = [int(part) if part.isdigit() else part for part in path.split(".")]
        target: Any = document
        for part in parents:
            target = target[part]
        target[last] = value
    return mutate


def _delete(path: str) -> Mutation:
    def mutate(document: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = document
        for part in parents:
            target = target[int(part) if part.isdigit() else part]
        del target[last]
    return mutate


def _rename(path: str, old: str, new: str) -> Mutation:
    def mutate(document: dict[str, Any]) -> None:
        target: Any = document
        for part in path.split("."):
            target = target[part]
        target[new] = target.pop(old)
    return mutate


def _append_check(rule: dict[str, Any]) -> Mutation:
    return lambda document: document["image_spec"].append(rule)


BAD_DOCUMENTS = {
    # name: (base protocol, mutation, expected message fragment after "<file>: ")
    "missing required key": ("ct-liver-lesion", _delete("version"), "top level: missing required key 'version'"),
    "wrong type": ("ct-liver-lesion", _set("window_presets.liver.window", "wide"),
                   "window_presets.liver.window: expected a number > 0, found 'wide'"),
    "window not positive": ("ct-liver-lesion", _set("window_presets.liver.window", 0),
                            "window_presets.liver.window: expected a number > 0, found 0"),
    "unknown key": ("ct-liver-lesion", _rename("window_presets.liver", "window", "windw"),
                    "window_presets.liver: unknown key 'windw' (allowed: "),
    "unknown top-level key": ("ct-liver-lesion", _set("indicaton", "typo"), "top level: unknown key 'indicaton'"),
    "bad severity": ("ct-liver-lesion", _set("image_spec.0.severity", "maybe"),
                     "image_spec[0].severity: expected one of 'fail', 'warn', found 'maybe'"),
    "bad metric definition": ("fdg-pet-ct-oncology", _set("quality_metrics.tbr.definition", "lesion_max/bg_sd"),
                              "quality_metrics.tbr.definition: expected one of 'lesion_max/bg_mean'"),
    "schema version": ("ct-liver-lesion", _set("schema_version", 2), "schema_version: expected 1 (the protocol"),
    "bad id": ("ct-liver-lesion", _set("id", "CT_Liver"), "id: expected a lowercase-kebab name"),
    "bad semver": ("ct-liver-lesion", _set("version", "v1"), "version: expected a semantic version"),
    "check without its key": ("ct-liver-lesion", _delete("image_spec.1.value_mm"),
                              "image_spec[1]: missing required key 'value_mm'"),
    "key of another check": ("ct-liver-lesion", _set("image_spec.1.values", ["B30"]),
                             "image_spec[1]: unknown key 'values'"),
    "unknown check": ("ct-liver-lesion", _set("image_spec.1.check", "slice_thickness"),
                      "image_spec[1].check: expected one of 'modality', 'slice_thickness_max'"),
    "unknown method": ("fdg-pet-ct-oncology", _rename("segmentation.methods", "pet-suv", "pet-sv"),
                       "segmentation.methods: unknown key 'pet-sv' (allowed: manual, "),
    "range of wrong length": ("ct-liver-lesion", _set("window_presets.liver.window_range", [120, 150, 200]),
                              "window_presets.liver.window_range: expected a [min, max] pair of numbers, found a list of 3 items"),
    "repeated tag": ("ct-liver-lesion", _set("image_spec.4.tags", ["KVP", "KVP"]),
                     "image_spec[4].tags: expected a list without repeats, found 'KVP' more than once"),
    "preset half given": ("ct-liver-lesion", _delete("window_presets.liver.level_range"),
                          "window_presets.liver: missing required key 'level_range'"),
    "cylinder without length": ("fdg-pet-ct-oncology", _delete("reference_tissue.1.length_mm"),
                                "reference_tissue[1]: missing required key 'length_mm'"),
    # semantic rules
    "window outside its range": ("ct-liver-lesion", _set("window_presets.liver.window", 250),
                                 "window_presets.liver.window: expected a value inside window_range [120, 200], found 250"),
    "level outside its range": ("ct-liver-lesion", _set("window_presets.liver.level", 40),
                                "window_presets.liver.level: expected a value inside level_range [60, 110], found 40"),
    "reversed range": ("ct-liver-lesion", _set("window_presets.liver.window_range", [200, 120]),
                       "window_presets.liver.window_range: expected [min, max] with min <= max, found [200, 120]"),
    "upper outside its range": ("fdg-pet-ct-oncology", _set("window_presets.whole-body.upper", 20),
                                "window_presets.whole-body.upper: expected a value inside upper_range [3, 15], found 20"),
    "overlapping bound ranges": ("fdg-pet-ct-oncology", _set("window_presets.whole-body.lower_range", [0, 4]),
                                 "window_presets.whole-body: expected lower_range entirely below upper_range"),
    "mixed preset forms": ("fdg-pet-ct-oncology", _set("window_presets.whole-body.window", 5),
                           "window_presets.whole-body: expected either window/level or lower/upper"),
    "PET preset in HU": ("fdg-pet-ct-oncology", _set("window_presets.whole-body.unit", "HU"),
                         "window_presets.whole-body.unit: expected 'SUVbw' in a PT protocol, found 'HU'"),
    "percentile above 100": ("mr-liver", _set("window_presets.liver.upper_range", [95, 120]),
                             "window_presets.liver: expected percentiles between 0 and 100, found 120"),
    "default preset missing": ("ct-liver-lesion", _set("display.default_preset", "lung"),
                               "display.default_preset: expected one of the window_presets ('liver', 'abdomen'), found 'lung'"),
    "default method not in methods": ("ct-liver-lesion", _set("segmentation.default_method", "threshold"),
                                      "segmentation.default_method: expected one of the methods in segmentation.methods"),
    "PET-only check in CT": ("ct-liver-lesion", _append_check(
        {"check": "uptake_time_window", "min_min": 55, "max_min": 75, "severity": "fail", "source": "x"}),
        "image_spec[5].check: expected a check that applies to CT images, found 'uptake_time_window' (PT only)"),
    "TBR in CT": ("ct-liver-lesion", _set("quality_metrics.tbr", {"definition": "lesion_max/bg_mean", "min": 2,
                                                                  "severity": "fail", "source": "x"}),
                  "quality_metrics.tbr: expected metrics that apply to CT images, found 'tbr' (PT only)"),
    "PET method in MR": ("mr-liver", _set("segmentation.methods.pet-suv", {"suv": 2.5}),
                         "segmentation.methods.pet-suv: expected methods for MR images"),
    "modality check disagrees": ("ct-liver-lesion", _set("image_spec.0.equals", "MR"),
                                 "image_spec[0].equals: expected 'CT' (the protocol's modality), found 'MR'"),
    "check listed twice": ("ct-liver-lesion", _append_check(
        {"check": "slice_thickness_max", "value_mm": 5, "severity": "warn", "source": "x"}),
        "image_spec[5].check: expected each check once, found 'slice_thickness_max' again (first at image_spec[1])"),
    "unknown fallback": ("fdg-pet-ct-oncology", _set("reference_tissue.0.fallback", "aorta"),
                         "reference_tissue[0].fallback: expected the name of another reference_tissue entry ('blood-pool'), found 'aorta'"),
    "qc range reversed": ("fdg-pet-ct-oncology", _set("reference_tissue.0.qc.max", 1.0),
                          "reference_tissue[0].qc.max: expected a value >= min (1.3), found 1.0"),
    "misspelt DICOM keyword": ("ct-liver-lesion", _set("longitudinal.must_match.2", "SoftwareVersion"),
                               "longitudinal.must_match[2]: expected a DICOM keyword from the DICOM data dictionary, "
                               "found 'SoftwareVersion'; did you mean 'SoftwareVersions'?"),
    "vote of an absent method": ("fdg-pet-ct-oncology", _set("segmentation.methods.pet-vote.methods", ["pet-suv", "threshold"]),
                                 "segmentation.methods.pet-vote.methods[1]: expected another method listed in segmentation.methods, found 'threshold'"),
    "too many votes": ("fdg-pet-ct-oncology", _set("segmentation.methods.pet-vote.min_votes", 4),
                       "segmentation.methods.pet-vote.min_votes: expected a whole number from 1 to 3, found 4"),
    "phantom bands per sphere": ("pet-nema-iec-phantom", _set("phantom.recovery_coefficient_bands.EARL1.rc_max", [[0.9, 1.1]]),
                                 "phantom.recovery_coefficient_bands.EARL1.rc_max: expected one [min, max] band per sphere (6"),
    "phantom background ROI": ("pet-nema-iec-phantom", _set("phantom.background_roi", "liver"),
                               "phantom.background_roi: expected the name of a reference_tissue entry ('phantom-background'), found 'liver'"),
}


@pytest.mark.parametrize("name", BAD_DOCUMENTS)
def test_bad_document_gives_one_line_error_with_file_and_key_path(tmp_path, name):
    base, mutate, expected = BAD_DOCUMENTS[name]
    document = builtin_document(base)
    mutate(document)
    path = write_yaml(tmp_path / f"{base}.yaml", document)
    with pytest.raises(ProtocolError) as caught:
        load_protocol_file(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: {expected}"), message
    assert "\n" not in message


BAD_TEXTS = {
    "YAML syntax error": ("schema_version: 1\nid: [unclosed\ntitle: x\n", "line 3, column 6: invalid YAML: "),
    "tab indentation": ("schema_version: 1\nwindow_presets:\n\tliver: {}\n", "line 3, column 1: invalid YAML: "),
    "duplicate key": ("schema_version: 1\nid: a\nid: b\n", "line 3, column 1: invalid YAML: duplicate key 'id'"),
    "not a mapping": ("- a\n- b\n", "top level: expected a mapping (key: value entries), found a list of 2 items"),
    "empty file": ("", "top level: expected a mapping (key: value entries), found an empty value"),
    "unquoted date": ("schema_version: 1\nversion: 2024-01-01\n", "version: expected a text, number, list or mapping, "
                                                                  "found the date 2024-01-01 (put it in quotes)"),
    "number key": ("schema_version: 1\n5: x\n", "top level: expected text keys, found the key 5"),
    "not a number": ("schema_version: .nan\n", "schema_version: expected a finite number, found nan"),
}


@pytest.mark.parametrize("name", BAD_TEXTS)
def test_bad_yaml_text_gives_one_line_error(tmp_path, name):
    text, expected = BAD_TEXTS[name]
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProtocolError) as caught:
        load_protocol_file(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: {expected}"), message
    assert "\n" not in message


def test_non_existent_and_unreadable_files(tmp_path):
    with pytest.raises(ProtocolError, match=r"missing\.yaml: expected a protocol file, found no such file"):
        load_protocol_file(tmp_path / "missing.yaml")
    with pytest.raises(ProtocolError, match="expected a protocol file, found a directory"):
        load_protocol_file(tmp_path)
    (tmp_path / "latin1.yaml").write_bytes("title: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ProtocolError, match=r"latin1\.yaml: expected UTF-8 text"):
        load_protocol_file(tmp_path / "latin1.yaml")


def test_further_problems_are_counted(tmp_path):
    document = builtin_document("ct-liver-lesion")
    document["window_presets"]["liver"]["window"] = 250
    document["display"]["default_preset"] = "lung"
    path = write_yaml(tmp_path / "two.yaml", document)
    with pytest.raises(ProtocolError, match=r"found 250 \(and 1 more problem\)$"):
        load_protocol_file(path)


def test_input_file_is_not_modified(tmp_path):
    path = tmp_path / "ct-brain.yaml"
    path.write_bytes((BUILTIN_DIR / "ct-brain.yaml").read_bytes())
    before = path.read_bytes()
    load_protocol_file(path)
    assert path.read_bytes() == before


# ---- window presets ----------------------------------------------------------------------------------------


def _preset(entry: dict[str, Any], organ: str = "test") -> WindowPreset:
    return WindowPreset.from_entry(organ, {"source": "test", **entry})


def test_window_level_preset_allows_and_clamps_inside_its_ranges():
    liver = _preset({"unit": "HU", "window": 150, "level": 90, "window_range": [120, 200], "level_range": [60, 110]})
    assert (liver.window, liver.level, liver.lower, liver.upper) == (150, 90, 15, 165)
    assert liver.window_range == (120, 200) and liver.lower_range is None
    assert liver.allows(120, 60) and liver.allows(200, 110) and liver.allows(150.0000001, 90)
    assert not liver.allows(119, 90) and not liver.allows(150, 111) and not liver.allows(float("nan"), 90)
    assert liver.clamp(300, 0) == (200, 60)
    assert liver.clamp(130, 100) == (130, 100)
    assert liver.clamp(float("inf"), 90) == (150, 90)


def test_lower_upper_preset_is_normalised_to_window_level():
    pet = _preset({"unit": "SUVbw", "lower": 0, "upper": 5, "lower_range": [0, 0], "upper_range": [3, 15]})
    assert (pet.window, pet.level) == (5, 2.5)
    assert pet.upper_range == (3, 15) and pet.window_range is None
    assert pet.allows(10, 5)  # 0..10
    assert not pet.allows(16, 8)  # 0..16: upper above 15
    assert not pet.allows(5, 3)  # 0.5..5.5: lower must stay 0
    assert not pet.allows(-1, 2)
    # nearest allowed (lower, upper) is the per-axis clamp: 2..22 -> 0..15; 0..1 -> 0..3
    assert pet.clamp(20, 12) == (15, 7.5)
    assert pet.clamp(1, 0.5) == (3, 1.5)
    assert pet.to_intensity_window(np.array([1.0, 2.0])) == (5, 2.5)  # SUV presets are already image units


def test_percentile_preset_becomes_an_intensity_window():
    preset = _preset({"unit": "percentile", "lower": 1, "upper": 99, "lower_range": [0, 5], "upper_range": [95, 100]})
    values = np.append(np.arange(101.0), np.nan)  # the p-th percentile of 0..100 is p; NaN is ignored
    window, level = preset.to_intensity_window(values)
    assert (window, level) == pytest.approx((98.0, 50.0))
    image = np.random.default_rng(1).normal(300.0, 40.0, size=(8, 16, 16))
    low, high = np.percentile(image, [1, 99])
    assert preset.to_intensity_window(image) == pytest.approx((high - low, (high + low) / 2))
    with pytest.raises(InputError, match="constant image"):
        preset.to_intensity_window(np.full(50, 7.0))
    with pytest.raises(InputError, match="no finite values"):
        preset.to_intensity_window(np.array([np.nan]))
