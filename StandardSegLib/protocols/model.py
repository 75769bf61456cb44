"""A loaded, validated protocol: identity, content hash, a read-only document and typed accessors.

The content hash identifies *what the protocol says*, not how the file is written: it is the SHA-256 of
the canonical JSON of the parsed document,
``json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` encoded as UTF-8. YAML
comments, key order, indentation and quoting style do not change it; any value does. Note that YAML
``5`` (integer) and ``5.0`` (float) are different JSON values (``5`` and ``5.0``) and so give different
hashes. Reports record this hash so a result can be traced to the exact SOP content it was produced under.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping, Optional

from StandardSegLib.errors import ProtocolError
from StandardSegLib.protocols.window import WindowPreset

BUILTIN = "builtin"
USER = "user"


def canonical_json(document: Any) -> str:
    """The canonical JSON text the content hash is computed from (see the module docstring)."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def content_sha256(document: Any) -> str:
    return hashlib.sha256(canonical_json(document).encode("utf-8")).hexdigest()


def deep_freeze(value: Any) -> Any:
    """Read-only view of a JSON-like value: mappings become MappingProxyType, lists become tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({key: deep_freeze(item) for key, item in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(deep_freeze(item) for item in value)
    return value


def thaw(value: Any) -> Any:
    """Plain, mutable deep copy (dicts and lists) of a frozen value, e.g. for JSON output."""
    if isinstance(value, Mapping):
        return {key: thaw(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return [thaw(item) for item in value]
    return copy.copy(value)


@dataclass(frozen=True)
class Protocol:
    """One SOP protocol, validated against the schema and the semantic checks.

    ``document`` is a deep read-only view of the validated file. The section accessors return fresh plain
    copies (dicts and lists), so callers may serialise or modify them without touching the protocol.
    """

    id: str
    title: str
    version: str
    modality: str
    organs: tuple[str, ...]
    source_path: Path
    origin: str  # BUILTIN or USER
    content_sha256: str
    document: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_document(cls, document: Mapping[str, Any], source_path: Path, origin: str) -> "Protocol":
        """Wrap an already validated document (see ``StandardSegLib.protocols.validation``)."""
        return cls(id=document["id"], title=document["title"], version=document["version"],
                   modality=document["modality"], organs=tuple(document["organs"]), source_path=Path(source_path),
                   origin=origin, content_sha256=content_sha256(document), document=deep_freeze(document))

    def to_dict(self) -> dict[str, Any]:
        """The whole document as plain dicts and lists."""
        return thaw(self.document)

    def _section(self, key: str, default: Any = None) -> Any:
        return thaw(self.document.get(key, default))

    @property
    def window_presets(self) -> dict[str, WindowPreset]:
        presets = self.document["window_presets"]
        return {organ: WindowPreset.from_entry(organ, entry) for organ, entry in presets.items()}

    @property
    def default_window_preset(self) -> WindowPreset:
        return self.window_presets[self.document["display"]["default_preset"]]

    @property
    def display(self) -> dict[str, Any]:
        return self._section("display")

    @property
    def inputs(self) -> list[dict[str, Any]]:
        return self._section("inputs", ())

    @property
    def image_spec(self) -> list[dict[str, Any]]:
        return self._section("image_spec")

    @property
    def quality_metrics(self) -> dict[str, dict[str, Any]]:
        return self._section("quality_metrics")

    @property
    def default_segmentation_method(self) -> str:
        return self.document["segmentation"]["default_method"]

    @property
    def segmentation_methods(self) -> dict[str, dict[str, Any]]:
        """Allowed method id -> default parameters."""
        return thaw(self.document["segmentation"]["methods"])

    @property
    def reference_image_modalities(self) -> list[str]:
        """Modalities a reader may define the ROI on instead of the primary image (``--reference``)."""
        return list(self.document["segmentation"].get("reference_images", {}))

    def for_reference_image(self, modality: str) -> "Protocol":
        """This protocol as seen by a ROI defined on a ``modality`` reference image: the segmentation methods
        (and their defaults) are the reference's, everything else, identity and content hash included, is
        unchanged, so the primary image's gate verdict still applies. ProtocolError when the protocol does not
        name that modality."""
        references = self.document["segmentation"].get("reference_images", {})
        if modality not in references:
            named = ", ".join(references) or "none"
            raise ProtocolError(f"protocol {self.id} v{self.version} does not allow a {modality} reference image "
                                f"(segmentation.reference_images: {named})")
        document = thaw(self.document)
        document["segmentation"]["methods"] = thaw(references[modality]["methods"])
        return replace(self, document=deep_freeze(document))

    @property
    def editor_effects(self) -> list[str]:
        """Slicer Segment Editor effects the SOP allows for manual editing."""
        return thaw(self.document["segmentation"]["editor_effects"])

    @property
    def reference_tissue(self) -> list[dict[str, Any]]:
        return self._section("reference_tissue")

    @property
    def operator_training(self) -> dict[str, Any]:
        return self._section("operator_training")

    @property
    def radiomics(self) -> dict[str, Any]:
        """The pyradiomics parameter structure (``setting``, ``imageType``, ``featureClass``...)."""
        return thaw(self.document["radiomics"]["parameters"])

    @property
    def radiomics_robustness(self) -> Optional[dict[str, Any]]:
        """Feature-robustness settings (perturbations, repetitions, ICC threshold, robust set), if any."""
        return thaw(self.document["radiomics"].get("robustness"))

    @property
    def radiomics_normalisation(self) -> Optional[dict[str, Any]]:
        """MR intensity normalisation applied before radiomics (method and its reference), if any."""
        return thaw(self.document["radiomics"].get("normalisation"))

    @property
    def longitudinal_must_match(self) -> list[str]:
        """DICOM keywords that must be identical at every timepoint (consensus recommendation 7)."""
        return thaw(self.document["longitudinal"]["must_match"])

    @property
    def longitudinal_uptake_tolerance_min(self) -> Optional[float]:
        """Largest difference of the uptake times of two time points (minutes), if the protocol checks it."""
        return self.document["longitudinal"].get("uptake_time_tolerance_min")

    @property
    def longitudinal_blocking(self) -> list[str]:
        """The must-match keywords whose difference blocks a longitudinal comparison (default none)."""
        return thaw(self.document["longitudinal"].get("blocking", []))

    @property
    def phantom(self) -> Optional[dict[str, Any]]:
        """Phantom description (sphere sizes, filling, recovery-coefficient bands), for phantom protocols."""
        return self._section("phantom")
