"""EARL recovery-coefficient bands: pass/fail of RCmax and RC_A50 per sphere and overall.

The bands (EARL1, EARL2: [low, high] per sphere, in the order of ``sphere_inner_diameters_mm``) and their
source are the protocol's ``phantom.recovery_coefficient_bands`` (pet-nema-iec-phantom: the EARL FDG-PET/CT
accreditation specifications as quoted by pynemaiqpet; design/standards.md §4). A value on a band edge passes.
A reconstruction meant to be EARL compliant after a post-filter is checked with ``--filter-fwhm`` (the image
is smoothed by that Gaussian before the whole analysis).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from StandardSegLib.errors import ProtocolError

#: The recovery coefficients the bands constrain, as keys of the protocol and of phantom.json.
BAND_KEYS = ("rc_max", "rc_a50")


def protocol_bands(phantom: Mapping[str, Any], protocol_id: str) -> dict[str, dict[str, list]]:
    """{version: {rc_key: [[low, high] per sphere]}} from the protocol, checked against its sphere list."""
    bands = phantom.get("recovery_coefficient_bands") or {}
    count = len(phantom["sphere_inner_diameters_mm"])
    for version, entries in bands.items():
        for key in BAND_KEYS:
            if len(entries.get(key, ())) != count:
                raise ProtocolError(f"protocol {protocol_id}: phantom.recovery_coefficient_bands.{version}.{key} "
                                    f"must give one [low, high] per sphere ({count})")
    return bands


def sphere_verdicts(bands: Mapping[str, Mapping[str, Sequence]], index: int,
                    rcs: Mapping[str, float]) -> dict[str, dict[str, Any]]:
    """{version: {rc_key: {value, band, verdict}, verdict}} for the sphere at ``index`` of the protocol list."""
    verdicts = {}
    for version, entries in bands.items():
        items = {}
        for key in BAND_KEYS:
            low, high = entries[key][index]
            value = rcs[key]
            items[key] = {"value": value, "band": [low, high], "verdict": "pass" if low <= value <= high else "fail"}
        items["verdict"] = "pass" if all(items[key]["verdict"] == "pass" for key in BAND_KEYS) else "fail"
        verdicts[version] = items
    return verdicts


def overall_verdicts(spheres: Sequence[Mapping[str, Any]], versions: Sequence[str]) -> dict[str, str]:
    """Per EARL version: pass when every sphere passes both bands."""
    return {version: "pass" if all(sphere[version.lower()]["verdict"] == "pass" for sphere in spheres) else "fail"
            for version in versions}
