"""Test helper: a built-in protocol with other segmentation methods, validated like any user protocol."""

from __future__ import annotations

from StandardSegLib.protocols import USER, Protocol, load_library, validate_document


def protocol_with(base: str, methods: dict) -> Protocol:
    document = load_library().get(base).to_dict()
    document["segmentation"].update(methods=methods, default_method=next(iter(methods)))
    validate_document(document, f"{base} (test copy)")
    return Protocol.from_document(document, f"{base}-test.yaml", USER)
