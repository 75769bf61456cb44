"""Radiomics features with pyradiomics, from a standard parameter file or a protocol's settings.

The parameters are a pyradiomics parameter structure (``setting``, ``imageType``, ``featureClass``,
``voxelSetting``), passed to ``radiomics.featureextractor.RadiomicsFeatureExtractor`` unchanged, so features
equal those of a direct pyradiomics call with the same image, mask and parameters. What this module adds:

- parameter files read as YAML or JSON with one-line errors naming the file and the key (pyradiomics' own
  validation, pykwalify, is kept: its messages are rewritten, not re-implemented);
- every effective setting (pyradiomics defaults plus the file), the enabled image types and feature classes,
  the parameter source and the pyradiomics version recorded in the result;
- pyradiomics' logging kept off the terminal: its warnings (e.g. deprecated features) are collected into the
  result's ``warnings`` instead. The logging state is changed only during a call and restored afterwards (not
  thread-safe: pyradiomics' logger is global).
"""

from __future__ import annotations

import json
import logging
import re
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterator, Mapping, Optional, Sequence

import SimpleITK as sitk
import yaml

from StandardSegLib.errors import InputError
from StandardSegLib.radiomics.deviations import KnownDeviation, applicable_deviations
from StandardSegLib.radiomics.grey_levels import check_grey_levels
from StandardSegLib.radiomics.ibsi_mapping import IBSIFeature, ibsi_feature

#: Top-level keys of a pyradiomics parameter file (radiomics/schemas/paramSchema.yaml).
PARAMETER_SECTIONS = ("setting", "voxelSetting", "imageType", "featureClass")
#: pyradiomics' custom validators (radiomics/schemas/schemaFuncs.py) -> the parameter key each one checks.
_VALIDATOR_KEYS = {"checkInterpolator": "setting.interpolator", "checkWavelet": "wavelet",
                   "checkWeighting": "setting.weightingNorm", "checkFeatureClass": "featureClass",
                   "checkImageType": "imageType"}
_PYKWALIFY_ERROR = re.compile(r"^\s*-\s*(?P<text>.*?)\.?\s*Path:\s*'(?P<path>[^']*)'\.?\s*$")
_UNDEFINED_KEY = re.compile(r"^Key '(?P<key>[^']*)' was not defined$")


@dataclass(frozen=True)
class RadiomicsResult:
    """Features of one image/mask/label with everything needed to reproduce them.

    ``features``: pyradiomics names (``original_shape_MeshVolume``...) -> values, in pyradiomics' order.
    ``diagnostics``: pyradiomics' ``diagnostics_*`` entries (versions, hashes, image and mask summaries).
    ``settings``: the extractor's effective settings (pyradiomics defaults updated with the parameters).
    """

    features: Mapping[str, float]
    diagnostics: Mapping[str, Any]
    settings: Mapping[str, Any]
    image_types: Mapping[str, Any]
    feature_classes: Mapping[str, Any]
    label: int
    parameters_source: str
    pyradiomics_version: str
    warnings: tuple[str, ...] = field(default=())
    #: Which features are reported: ``{"name": "all"}``, or the protocol's robust set (``restricted``).
    feature_set: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({"name": "all"}))
    #: The intensity normalisation applied to the image first (``StandardSegLib.normalisation``), or None.
    normalisation: Optional[Mapping[str, Any]] = None

    def ibsi(self) -> dict[str, IBSIFeature]:
        """The features that have an IBSI counterpart, by pyradiomics name."""
        mapped = ((name, ibsi_feature(name)) for name in self.features)
        return {name: feature for name, feature in mapped if feature is not None}

    def deviations(self) -> tuple[KnownDeviation, ...]:
        """pyradiomics' known IBSI deviations that apply to these settings and features."""
        return applicable_deviations(self.settings, self.features)

    def restricted(self, names: Sequence[str], source: str) -> "RadiomicsResult":
        """Only the features named in ``names`` (e.g. a protocol's robust set), saying so in ``feature_set``:
        its name, source and the extracted features that were left out."""
        kept = {name: value for name, value in self.features.items() if name in set(names)}
        dropped = [name for name in self.features if name not in kept]
        return replace(self, features=MappingProxyType(kept), feature_set=MappingProxyType(
            {"name": "robust", "source": source, "reported": len(kept), "left_out": dropped}))

    def to_dict(self) -> dict[str, Any]:
        normalisation = {"normalisation": dict(self.normalisation)} if self.normalisation is not None else {}
        return {
            "feature_set": _plain(self.feature_set), **normalisation,
            "features": dict(self.features),
            "ibsi": {name: feature.to_dict() for name, feature in self.ibsi().items()},
            "ibsi_deviations": [deviation.to_dict() for deviation in self.deviations()],
            "settings": dict(self.settings), "image_types": dict(self.image_types),
            "feature_classes": dict(self.feature_classes), "label": self.label,
            "parameters_source": self.parameters_source, "pyradiomics_version": self.pyradiomics_version,
            "diagnostics": {key: _plain(value) for key, value in self.diagnostics.items()},
            "warnings": list(self.warnings),
        }


def read_parameter_file(path: str | Path) -> dict[str, Any]:
    """A pyradiomics parameter file (YAML, or JSON for ``.json``) as a dict; errors name the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{path}: expected a pyradiomics parameter file, found no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: expected a pyradiomics parameter file, found a directory") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: cannot read the parameter file ({error})") from None
    try:
        document = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as error:
        raise InputError(f"{path}: line {error.lineno}, column {error.colno}: invalid JSON: {error.msg}") from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise InputError(f"{path}: {where}invalid YAML: {error.problem or error.context}") from None
    except yaml.YAMLError as error:
        raise InputError(f"{path}: invalid YAML: {error}") from None
    return check_parameter_structure(document, str(path))


def check_parameter_structure(document: Any, source: str) -> dict[str, Any]:
    """The top level must be a mapping of pyradiomics sections (pyradiomics silently falls back to its
    defaults for anything else, which would hide a wrong file)."""
    if not isinstance(document, dict):
        found = "an empty file" if document is None else f"a {type(document).__name__}"
        raise InputError(f"{source}: expected a mapping with keys {', '.join(PARAMETER_SECTIONS)}, found {found}")
    unknown = [key for key in document if key not in PARAMETER_SECTIONS]
    if unknown:
        raise InputError(f"{source}: {unknown[0]}: unknown key, expected one of {', '.join(PARAMETER_SECTIONS)}")
    return document


def protocol_parameters(protocol: Any) -> tuple[dict[str, Any], str]:
    """A protocol's radiomics parameters and a source string naming the protocol, version and content hash."""
    source = f"protocol {protocol.id} version {protocol.version} (sha256 {protocol.content_sha256[:12]})"
    return protocol.radiomics, source


def build_extractor(parameters: Mapping[str, Any], source: str = "parameters"):
    """A ``RadiomicsFeatureExtractor`` for ``parameters``; invalid parameters raise ``InputError`` naming
    ``source`` and the key."""
    from radiomics.featureextractor import RadiomicsFeatureExtractor
    from pykwalify.errors import SchemaError

    document = check_parameter_structure(parameters, source)
    with _quiet_pyradiomics():
        try:
            return RadiomicsFeatureExtractor(_copy(document))
        except SchemaError as error:
            raise InputError(f"{source}: {_schema_message(error)}") from None
        except (ValueError, TypeError) as error:
            raise InputError(f"{source}: {_validator_key(error)}: {error}") from None


def extract_features(image: sitk.Image, mask: sitk.Image, parameters: Mapping[str, Any], *,
                     label: Optional[int] = None, source: str = "parameters",
                     mask_name: str = "the mask") -> RadiomicsResult:
    """pyradiomics features of ``image`` inside ``mask == label`` (default: the parameters' ``label``,
    else pyradiomics' default 1). Image and mask are passed to pyradiomics as they are; they are not modified."""
    extractor = build_extractor(parameters, source)
    return run_extractor(extractor, image, mask, label=label, source=source, mask_name=mask_name)


def run_extractor(extractor: Any, image: sitk.Image, mask: sitk.Image, *, label: Optional[int] = None,
                  source: str = "parameters", mask_name: str = "the mask") -> RadiomicsResult:
    """Run a built extractor (see :func:`build_extractor`) and record its settings with the features."""
    import radiomics

    used_label = int(label if label is not None else extractor.settings.get("label", 1))
    check_grey_levels(extractor.settings, extractor.enabledFeatures, image, mask, used_label, mask_name, source)
    with _quiet_pyradiomics() as warnings:
        try:
            output = extractor.execute(image, mask, label=used_label)
        except (ValueError, IndexError, RuntimeError) as error:
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise InputError(f"pyradiomics cannot extract label {used_label} of {mask_name} with {source}: "
                             f"{reason}") from None
    features = {key: float(value) for key, value in output.items() if not key.startswith("diagnostics_")}
    diagnostics = {key: value for key, value in output.items() if key.startswith("diagnostics_")}
    settings = dict(_copy(extractor.settings), label=used_label)
    return RadiomicsResult(
        features=MappingProxyType(features), diagnostics=MappingProxyType(diagnostics),
        settings=MappingProxyType(settings), image_types=MappingProxyType(_copy(extractor.enabledImagetypes)),
        feature_classes=MappingProxyType(_copy(extractor.enabledFeatures)), label=used_label,
        parameters_source=source, pyradiomics_version=str(radiomics.__version__), warnings=tuple(warnings))


class _Collector(logging.Handler):
    def __init__(self, sink: list[str]):
        super().__init__(logging.WARNING)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(f"pyradiomics: {record.getMessage()}")


@contextmanager
def _quiet_pyradiomics() -> Iterator[list[str]]:
    """Collect pyradiomics' warnings instead of printing them; silence pykwalify's validation log (it repeats
    the error raised as ``InputError``). Restores every level and handler afterwards."""
    import radiomics  # noqa: F401 - sets up the 'radiomics' logger and its stderr handler

    logger, validator = logging.getLogger("radiomics"), logging.getLogger("pykwalify")
    collected: list[str] = []
    collector = _Collector(collected)
    saved = (logger.level, [(handler, handler.level) for handler in logger.handlers], validator.level)
    logger.setLevel(logging.WARNING)
    for handler, _ in saved[1]:
        handler.setLevel(logging.CRITICAL + 1)
    validator.setLevel(logging.CRITICAL + 1)
    logger.addHandler(collector)
    try:
        yield collected
    finally:
        logger.removeHandler(collector)
        logger.setLevel(saved[0])
        for handler, level in saved[1]:
            handler.setLevel(level)
        validator.setLevel(saved[2])


def _schema_message(error: Exception) -> str:
    """pykwalify's "Schema validation failed: - <text>. Path: '/setting'" as "setting.<key>: <text>"."""
    messages = []
    for line in str(getattr(error, "msg", error)).splitlines():
        match = _PYKWALIFY_ERROR.match(line)
        if not match:
            continue
        path = ".".join(part for part in match["path"].split("/") if part)
        text = match["text"]
        undefined = _UNDEFINED_KEY.match(text)
        if undefined:
            path = f"{path}.{undefined['key']}" if path else undefined["key"]
            text = "unknown key (not a pyradiomics parameter)"
        messages.append(f"{path or '(top level)'}: {text}")
    return "; ".join(messages) or str(error)


def _validator_key(error: Exception) -> str:
    """The key a pyradiomics custom validator was checking when it raised (innermost frame's function)."""
    frame = error.__traceback__
    name = None
    while frame is not None:
        name = frame.tb_frame.f_code.co_name
        frame = frame.tb_next
    return _VALIDATOR_KEYS.get(name, "parameters")


def _copy(value: Any) -> Any:
    """A plain deep copy of nested dicts/lists (settings are small)."""
    if isinstance(value, Mapping):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_copy(item) for item in value]
    return value


def _plain(value: Any) -> Any:
    """Diagnostics hold tuples, numpy scalars and dicts; JSON output takes them as lists, numbers, dicts."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value
