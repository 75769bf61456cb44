"""A built-in protocol's id and version name one content: reports cite "id vX.Y.Z" and a reader must be able
to look that protocol up. ``Data/protocol_versions.json`` records the content sha256 of every built-in protocol
version released; changing a protocol's content without a new version fails here (add the new version's hash
to the file in the same change, never edit a recorded one)."""

from __future__ import annotations

import json
from pathlib import Path

from StandardSegLib.protocols import BUILTIN, load_library

RECORDED = json.loads((Path(__file__).parent / "Data" / "protocol_versions.json").read_text())


def test_every_built_in_protocol_version_has_its_recorded_content():
    built_in = [protocol for protocol in load_library(environ={}).all() if protocol.origin == BUILTIN]
    assert len(built_in) >= 13
    changed = [f"{protocol.id} v{protocol.version}: sha256 {protocol.content_sha256}, recorded "
               f"{RECORDED.get(protocol.id, {}).get(protocol.version, 'nothing')}" for protocol in built_in
               if RECORDED.get(protocol.id, {}).get(protocol.version) != protocol.content_sha256]
    assert not changed, "content changed without a new version (or a new version not recorded): " + "; ".join(changed)


def test_recorded_versions_only_grow():
    """Every recorded version of a protocol is older than the built-in one (a version is never reused)."""
    current = {protocol.id: protocol.version for protocol in load_library(environ={}).all()}

    def key(version: str) -> tuple[int, ...]:
        return tuple(int(part) for part in version.split("."))

    for protocol_id, versions in RECORDED.items():
        assert max(versions, key=key) == current[protocol_id], protocol_id
