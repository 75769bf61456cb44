"""``standardseg protocols list|show|validate``: the SOP protocol library.

``protocols --protocol-dir DIR`` adds a user folder (repeatable; also ``STANDARDSEG_PROTOCOL_PATH``). A user
protocol with a built-in's id overrides it; ``list`` shows that in the ``origin`` column.

JSON output: ``list --json`` gives one object per protocol (``id``, ``version``, ``modality``, ``organs``,
``title``, ``origin``, ``sha256``, ``source_path``, ``overrides``: paths of protocols it replaces);
``show --json`` gives ``id``, ``version``, ``sha256``, ``source_path``, ``origin`` and ``document`` (the
whole validated protocol).
"""

from __future__ import annotations

import argparse
from typing import Any, Mapping

from StandardSegLib.cli.output import print_json, print_table
from StandardSegLib.protocols import (Protocol, ProtocolLibrary, WindowPreset, add_protocol_dir_argument,
                                      library_from_args, load_protocol_file)

#: Length of the hash prefix shown in tables (the full hash is in the JSON output and in reports).
SHA_PREFIX_CHARS = 12


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "protocols", help="list, show and validate SOP protocols",
        description="SOP protocols (YAML): built-in ones plus user folders from --protocol-dir and "
        "STANDARDSEG_PROTOCOL_PATH. A user protocol with a built-in's id overrides the built-in.")
    add_protocol_dir_argument(parser)
    actions = parser.add_subparsers(title="actions", metavar="ACTION", required=True)

    listing = actions.add_parser("list", help="list available protocols (id, version, modality, origin, hash)")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(func=_list)

    show = actions.add_parser("show", help="show one protocol: presets, image checks, gate thresholds, methods")
    show.add_argument("id", help="protocol id, e.g. fdg-pet-ct-oncology")
    show.add_argument("--json", action="store_true", help="the whole document with id, version, sha256, origin")
    show.set_defaults(func=_show)

    validate = actions.add_parser("validate", help="check protocol files against the schema and semantic rules")
    validate.add_argument("files", nargs="+", metavar="FILE", help="protocol YAML file(s)")
    validate.set_defaults(func=_validate)


def _origin_text(library: ProtocolLibrary, protocol: Protocol) -> str:
    replaced = sorted({other.origin for other in library.overridden(protocol.id)})
    return protocol.origin + (f" (overrides {', '.join(replaced)})" if replaced else "")


def _list(args: argparse.Namespace) -> int:
    library = library_from_args(args)
    protocols = library.all()
    if args.json:
        print_json([{"id": p.id, "version": p.version, "modality": p.modality, "organs": list(p.organs),
                     "title": p.title, "origin": p.origin, "sha256": p.content_sha256, "source_path": p.source_path,
                     "overrides": [other.source_path for other in library.overridden(p.id)]} for p in protocols])
        return 0
    rows = [(p.id, p.version, p.modality, ",".join(p.organs), p.title, _origin_text(library, p),
             p.content_sha256[:SHA_PREFIX_CHARS]) for p in protocols]
    print_table(rows, ("id", "version", "modality", "organs", "title", "origin", "sha256"))
    return 0


def _show(args: argparse.Namespace) -> int:
    library = library_from_args(args)
    protocol = library.get(args.id)
    if args.json:
        print_json({"id": protocol.id, "version": protocol.version, "sha256": protocol.content_sha256,
                    "source_path": protocol.source_path, "origin": protocol.origin, "document": protocol.to_dict()})
        return 0
    print("\n".join(_summary(protocol, _origin_text(library, protocol))))
    return 0


def _validate(args: argparse.Namespace) -> int:
    for path in args.files:
        protocol = load_protocol_file(path)
        print(f"{path}: valid ({protocol.id}, {protocol.version}, sha256 {protocol.content_sha256})")
    return 0


def _value_text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value_text(item) for item in value) + "]"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _params(values: Mapping[str, Any], skip: tuple[str, ...] = ()) -> str:
    pairs = [f"{key}={_value_text(value)}" for key, value in values.items() if key not in skip]
    return ", ".join(pairs) or "no parameters"


def _preset_line(preset: WindowPreset) -> str:
    first, second = preset.ranges
    if preset.window_range is not None:
        allowed = f"window {first[0]:g} to {first[1]:g}, level {second[0]:g} to {second[1]:g}"
    else:
        allowed = f"lower {first[0]:g} to {first[1]:g}, upper {second[0]:g} to {second[1]:g}"
    return (f"  {preset.organ}: W {preset.window:g} / L {preset.level:g} {preset.unit} "
            f"(shows {preset.lower:g} to {preset.upper:g}); allowed {allowed}")


def _summary(protocol: Protocol, origin: str) -> list[str]:
    """Human-readable summary: what a reader or physicist needs to see before using the SOP."""
    doc = protocol.document
    lines = [f"{protocol.id} {protocol.version}: {protocol.title}",
             f"modality {protocol.modality}; organs {', '.join(protocol.organs)}; origin {origin}",
             f"sha256 {protocol.content_sha256}", f"file {protocol.source_path}",
             f"indication: {doc['indication']}", "sources:", *(f"  - {text}" for text in doc["source"])]
    for entry in protocol.inputs:
        lines.append(f"input {entry['role']} ({entry['modality']}): {entry['description']}")
    display = doc["display"]
    lines.append(f"window presets (default {display['default_preset']}; reader changes outside the range: "
                 f"{display['on_change']}):")
    for preset in protocol.window_presets.values():
        lines += [_preset_line(preset), f"    source: {preset.source}"]
    lines.append("image checks:")
    for rule in protocol.image_spec:
        lines += [f"  {rule['check']} [{rule['severity']}]: {_params(rule, ('check', 'severity', 'source'))}",
                  f"    source: {rule['source']}"]
    lines.append("quality gate:")
    for name, rule in protocol.quality_metrics.items():
        lines += [f"  {name.upper()} = {rule['definition']} >= {rule['min']:g} [{rule['severity']}]",
                  f"    source: {rule['source']}"]
    lines.append(f"segmentation (default {protocol.default_segmentation_method}):")
    lines += [f"  {method}: {_params(params)}" for method, params in protocol.segmentation_methods.items()]
    for modality, reference in doc["segmentation"].get("reference_images", {}).items():
        lines.append(f"  ROI on the {modality} reference image (--reference): "
                     + "; ".join(f"{method}: {_params(params)}" for method, params in reference["methods"].items()))
        lines.append(f"    source: {reference['source']}")
    lines += [f"  editor effects: {', '.join(protocol.editor_effects) or 'none'}",
              f"  source: {doc['segmentation']['source']}", "reference tissue:"]
    for entry in protocol.reference_tissue:
        size = _params(entry, ("name", "shape", "location", "statistics", "qc", "fallback", "source"))
        lines.append(f"  {entry['name']}: {entry['shape']} ({size}), {entry['location']}")
        if "qc" in entry:
            qc = entry["qc"]
            lines.append(f"    QC: {qc['statistic']} {qc['min']:g} to {qc['max']:g} {qc['unit']} [{qc['severity']}]"
                         f" ({qc['source']})")
        if "fallback" in entry:
            lines.append(f"    fallback: {entry['fallback']}")
        lines.append(f"    source: {entry['source']}")
    phantom = protocol.phantom
    if phantom:
        diameters = phantom["sphere_inner_diameters_mm"]
        lines += [f"phantom: {phantom['name']}, spheres {_value_text(diameters)} mm, "
                  f"{phantom['sphere_to_background_ratio']:g}:1, background ROI {phantom['background_roi']}"]
        for standard, metrics in phantom.get("recovery_coefficient_bands", {}).items():
            for metric, bands in metrics.items():
                pairs = ", ".join(f"{size:g} mm {low:.2f}-{high:.2f}" for size, (low, high) in zip(diameters, bands))
                lines.append(f"  {standard} {metric}: {pairs}")
        lines.append(f"  source: {phantom['source']}")
    training = protocol.operator_training
    lines += [f"operator training: valid {training['validity_days']} days, on expiry {training['on_expiry']}",
              f"longitudinal: must match {', '.join(protocol.longitudinal_must_match)}"]
    return lines
