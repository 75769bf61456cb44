"""Semantic rules for a protocol document that has passed the JSON Schema.

What the schema cannot express: a preset's default lies inside its own ranges and ranges are ordered;
cross-references resolve (default preset, default method, reference fallback, phantom background ROI,
voting members); items that only make sense for one modality (PET uptake time, TBR, pet-* methods, MR
field strength) appear only there, and a reference image's methods fit the reference's modality; preset and
QC units are the modality's (CT HU, PET SUVbw, MR percentile); DICOM keywords exist in the DICOM dictionary;
each image check appears once.
Each rule yields one-line messages ``<key.path>: expected <what>, found <what>``.
"""

from __future__ import annotations

import difflib
from typing import Any, Iterator, Mapping, Optional, Sequence

from pydicom.datadict import keyword_dict

from StandardSegLib.protocols.messages import describe_value, quoted

#: The unit a window preset or reference-tissue QC range must use in a protocol of each modality:
#: CT has Hounsfield units, PET is read in body-weight SUV, MR intensities have no absolute scale.
NATIVE_UNIT = {"CT": "HU", "PT": "SUVbw", "MR": "percentile"}

#: Image checks and gate metrics that only apply to one modality.
MODALITY_ONLY_CHECKS = {
    "uptake_time_window": "PT", "corrected_image": "PT", "suv_convertible": "PT",
    "field_strength_allowed": "MR", "sequence_allowed": "MR",
}
MODALITY_ONLY_METRICS = {"tbr": "PT"}
PET_METHOD_PREFIX = "pet-"

#: The two ways a window preset can be stated (see StandardSegLib.protocols.window).
WINDOW_FORM_KEYS = ("window", "level", "window_range", "level_range")
BOUND_FORM_KEYS = ("lower", "upper", "lower_range", "upper_range")


def _range_text(pair: Sequence[float]) -> str:
    return f"[{pair[0]:g}, {pair[1]:g}]"


def _preset_problems(organ: str, entry: Mapping[str, Any], modality: str) -> Iterator[str]:
    where = f"window_presets.{organ}"
    unit = NATIVE_UNIT[modality]
    if entry["unit"] != unit:
        yield f"{where}.unit: expected {unit!r} in a {modality} protocol, found {entry['unit']!r}"
    window_keys = [key for key in WINDOW_FORM_KEYS if key in entry]
    bound_keys = [key for key in BOUND_FORM_KEYS if key in entry]
    names = ("window", "level") if window_keys else ("lower", "upper")
    for name in names:
        low, high = entry[f"{name}_range"]
        if low > high:
            yield f"{where}.{name}_range: expected [min, max] with min <= max, found {_range_text((low, high))}"
        elif not low <= entry[name] <= high:
            yield (f"{where}.{name}: expected a value inside {name}_range {_range_text((low, high))}, "
                   f"found {entry[name]!r}")
    if window_keys and entry["window_range"][0] <= 0:
        yield f"{where}.window_range: expected windows > 0, found {_range_text(entry['window_range'])}"
    if bound_keys:
        if entry["upper"] <= entry["lower"]:
            yield f"{where}.upper: expected a value > lower ({entry['lower']!r}), found {entry['upper']!r}"
        if max(entry["lower_range"]) >= min(entry["upper_range"]):
            yield (f"{where}: expected lower_range entirely below upper_range (so every allowed window is > 0), "
                   f"found {_range_text(entry['lower_range'])} and {_range_text(entry['upper_range'])}")
    if entry["unit"] == "percentile":
        if window_keys:
            yield f"{where}: expected lower/upper percentiles for a percentile preset, found window/level"
            return
        values = [entry["lower"], entry["upper"], *entry["lower_range"], *entry["upper_range"]]
        outside = [value for value in values if not 0 <= value <= 100]
        if outside:
            yield f"{where}: expected percentiles between 0 and 100, found {outside[0]!r}"


def mixed_preset_form_problems(document: Any) -> Iterator[str]:
    """Presets mixing window/level and lower/upper keys.

    Checked before the schema: the schema would otherwise report a key of the form the author did not
    intend as missing, which misleads.
    """
    presets = document.get("window_presets") if isinstance(document, Mapping) else None
    for organ, entry in presets.items() if isinstance(presets, Mapping) else ():
        if isinstance(entry, Mapping):
            window_keys = [key for key in WINDOW_FORM_KEYS if key in entry]
            bound_keys = [key for key in BOUND_FORM_KEYS if key in entry]
            if window_keys and bound_keys:
                yield (f"window_presets.{organ}: expected either window/level or lower/upper with their ranges, "
                       f"found both ({', '.join(window_keys + bound_keys)})")


def _display_problems(document: Mapping[str, Any]) -> Iterator[str]:
    presets = document["window_presets"]
    default = document["display"]["default_preset"]
    if default not in presets:
        yield (f"display.default_preset: expected one of the window_presets ({quoted(presets)}), "
               f"found {default!r}")


def _dicom_keyword_problem(where: str, keyword: str) -> Optional[str]:
    if keyword in keyword_dict:
        return None
    guess = difflib.get_close_matches(keyword, keyword_dict, n=1)
    hint = f"; did you mean {guess[0]!r}?" if guess else ""
    return f"{where}: expected a DICOM keyword from the DICOM data dictionary, found {keyword!r}{hint}"


def _image_spec_problems(document: Mapping[str, Any]) -> Iterator[str]:
    modality = document["modality"]
    first_seen: dict[str, int] = {}
    for index, rule in enumerate(document["image_spec"]):
        where, check = f"image_spec[{index}]", rule["check"]
        if check in first_seen:
            yield (f"{where}.check: expected each check once, found {check!r} again "
                   f"(first at image_spec[{first_seen[check]}])")
        first_seen.setdefault(check, index)
        only = MODALITY_ONLY_CHECKS.get(check)
        if only and only != modality:
            yield f"{where}.check: expected a check that applies to {modality} images, found {check!r} ({only} only)"
        if check == "modality" and rule["equals"] != modality:
            yield f"{where}.equals: expected {modality!r} (the protocol's modality), found {rule['equals']!r}"
        if check == "uptake_time_window" and rule["min_min"] > rule["max_min"]:
            yield f"{where}.max_min: expected a value >= min_min ({rule['min_min']!r}), found {rule['max_min']!r}"
        for tag_index, keyword in enumerate(rule.get("tags", ()) if check == "required_tags" else ()):
            problem = _dicom_keyword_problem(f"{where}.tags[{tag_index}]", keyword)
            if problem:
                yield problem


def _metric_problems(document: Mapping[str, Any]) -> Iterator[str]:
    modality = document["modality"]
    for name in document["quality_metrics"]:
        only = MODALITY_ONLY_METRICS.get(name)
        if only and only != modality:
            yield (f"quality_metrics.{name}: expected metrics that apply to {modality} images, "
                   f"found {name!r} ({only} only)")


def _segmentation_problems(document: Mapping[str, Any]) -> Iterator[str]:
    segmentation, modality = document["segmentation"], document["modality"]
    methods = segmentation["methods"]
    if segmentation["default_method"] not in methods:
        yield (f"segmentation.default_method: expected one of the methods in segmentation.methods "
               f"({quoted(methods)}), found {segmentation['default_method']!r}")
    for method, parameters in methods.items():
        where = f"segmentation.methods.{method}"
        if method.startswith(PET_METHOD_PREFIX) and modality != "PT":
            yield f"{where}: expected methods for {modality} images (pet-* methods need PET SUV), found {method!r}"
        members = parameters.get("methods") if method == "pet-vote" else None
        if members is None:
            continue
        if not isinstance(members, list) or not members:
            yield f"{where}.methods: expected a non-empty list of method ids, found {describe_value(members)}"
            continue
        for index, member in enumerate(members):
            if member == "pet-vote" or member not in methods:
                yield (f"{where}.methods[{index}]: expected another method listed in segmentation.methods, "
                       f"found {describe_value(member)}")
        votes = parameters.get("min_votes")
        valid_count = isinstance(votes, int) and not isinstance(votes, bool) and 1 <= votes <= len(members)
        if votes is not None and not valid_count:
            yield f"{where}.min_votes: expected a whole number from 1 to {len(members)}, found {describe_value(votes)}"


def _reference_image_problems(document: Mapping[str, Any]) -> Iterator[str]:
    """A reference image is another modality than the protocol's, one of its inputs when it lists inputs,
    and is segmented with methods for its own modality (pet-* methods only on a PET reference)."""
    modality = document["modality"]
    inputs = {entry["modality"] for entry in document.get("inputs", ())}
    for reference, entry in document["segmentation"].get("reference_images", {}).items():
        where = f"segmentation.reference_images.{reference}"
        if reference == modality:
            yield f"{where}: expected a modality other than the protocol's own ({modality}), found {reference!r}"
        if inputs and reference not in inputs:
            yield (f"{where}: expected a modality listed in inputs ({quoted(sorted(inputs))}), "
                   f"found {reference!r}")
        for method in entry["methods"]:
            if method.startswith(PET_METHOD_PREFIX) and reference != "PT":
                yield (f"{where}.methods.{method}: expected methods for {reference} images (pet-* methods need "
                       f"PET SUV), found {method!r}")


def _reference_problems(document: Mapping[str, Any]) -> Iterator[str]:
    entries = document["reference_tissue"]
    names = [entry["name"] for entry in entries]
    unit = NATIVE_UNIT[document["modality"]]
    for index, entry in enumerate(entries):
        where = f"reference_tissue[{index}]"
        if entry["name"] in names[:index]:
            yield f"{where}.name: expected a name not used by another entry, found {entry['name']!r} again"
        fallback = entry.get("fallback")
        if fallback is not None and (fallback not in names or fallback == entry["name"]):
            others = [name for name in names if name != entry["name"]]
            yield (f"{where}.fallback: expected the name of another reference_tissue entry "
                   f"({quoted(others) or 'none defined'}), found {fallback!r}")
        qc = entry.get("qc")
        if qc is not None:
            if qc["min"] > qc["max"]:
                yield f"{where}.qc.max: expected a value >= min ({qc['min']!r}), found {qc['max']!r}"
            if qc["unit"] != unit:
                yield f"{where}.qc.unit: expected {unit!r} in a {document['modality']} protocol, found {qc['unit']!r}"


def _dicom_list_problems(document: Mapping[str, Any]) -> Iterator[str]:
    for index, keyword in enumerate(document["longitudinal"]["must_match"]):
        problem = _dicom_keyword_problem(f"longitudinal.must_match[{index}]", keyword)
        if problem:
            yield problem
    must_match = document["longitudinal"]["must_match"]
    for index, keyword in enumerate(document["longitudinal"].get("blocking", ())):
        if keyword not in must_match:
            yield (f"longitudinal.blocking[{index}]: expected one of the must_match keys "
                   f"({', '.join(must_match)}), found {keyword!r}")


def _input_problems(document: Mapping[str, Any]) -> Iterator[str]:
    roles: list[str] = []
    for index, entry in enumerate(document.get("inputs", ())):
        if entry["role"] in roles:
            yield f"inputs[{index}].role: expected a role not used by another input, found {entry['role']!r} again"
        roles.append(entry["role"])


def _phantom_problems(document: Mapping[str, Any]) -> Iterator[str]:
    phantom = document.get("phantom")
    if phantom is None:
        return
    names = [entry["name"] for entry in document["reference_tissue"]]
    if phantom["background_roi"] not in names:
        yield (f"phantom.background_roi: expected the name of a reference_tissue entry ({quoted(names)}), "
               f"found {phantom['background_roi']!r}")
    spheres = len(phantom["sphere_inner_diameters_mm"])
    for standard, metrics in phantom.get("recovery_coefficient_bands", {}).items():
        for metric, bands in metrics.items():
            where = f"phantom.recovery_coefficient_bands.{standard}.{metric}"
            if len(bands) != spheres:
                yield (f"{where}: expected one [min, max] band per sphere ({spheres}, in the order of "
                       f"sphere_inner_diameters_mm), found {len(bands)}")
            for index, (low, high) in enumerate(bands):
                if low > high:
                    yield f"{where}[{index}]: expected [min, max] with min <= max, found {_range_text((low, high))}"


def semantic_problems(document: Mapping[str, Any]) -> list[str]:
    """Rules beyond the schema, for a document that passed the schema."""
    modality = document["modality"]
    problems: list[str] = []
    for organ, entry in document["window_presets"].items():
        problems.extend(_preset_problems(organ, entry, modality))
    for rule_set in (_display_problems, _image_spec_problems, _metric_problems, _segmentation_problems,
                     _reference_image_problems, _reference_problems, _dicom_list_problems, _input_problems,
                     _phantom_problems):
        problems.extend(rule_set(document))
    return problems
