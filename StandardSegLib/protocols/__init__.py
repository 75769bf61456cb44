"""SOP protocols: YAML files that fix every study-specific number of a standardised segmentation.

The ESR/EORTC consensus (deSouza et al., Insights Imaging 2022) asks for SOPs with per-organ window-level
ranges, image specifications with study-specific SNR/CNR/TBR thresholds, background-tissue measurement,
trained operators and identical platforms for longitudinal work. A protocol file states all of these,
each number with its ``source``; nothing study-specific is a hidden code default.

A file is validated against ``Resources/Schemas/protocol.schema.json`` (JSON Schema 2020-12) and the
semantic rules in :mod:`StandardSegLib.protocols.validation`; errors are one line,
``<file>: <key.path[2].x>: expected <what>, found <what>``.

Where protocols come from (first match of an id wins, see :mod:`StandardSegLib.protocols.loader`):

- ``--protocol-dir DIR`` on the command line (repeatable; :func:`add_protocol_dir_argument`);
- the environment variable ``STANDARDSEG_PROTOCOL_PATH``: folders separated by ``os.pathsep``;
- the built-ins in ``Resources/Protocols``.

A user protocol with a built-in's id overrides the built-in (``protocols list`` shows origin ``user``
and what it overrides). ``Protocol.content_sha256`` identifies the content independent of formatting
(:mod:`StandardSegLib.protocols.model`).
"""

from __future__ import annotations

import argparse

from StandardSegLib.protocols.loader import (ENV_VAR, ProtocolLibrary, load_library, load_protocol_file,
                                             read_document)
from StandardSegLib.protocols.model import BUILTIN, USER, Protocol, canonical_json, content_sha256
from StandardSegLib.protocols.validation import validate_document
from StandardSegLib.protocols.window import WindowPreset

__all__ = [
    "BUILTIN", "ENV_VAR", "USER", "Protocol", "ProtocolLibrary", "WindowPreset", "add_protocol_dir_argument",
    "canonical_json", "content_sha256", "library_from_args", "load_library", "load_protocol_file",
    "read_document", "validate_document",
]


def add_protocol_dir_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--protocol-dir DIR`` (repeatable) to a command that looks protocols up by id."""
    parser.add_argument(
        "--protocol-dir", dest="protocol_dirs", action="append", metavar="DIR", default=None,
        help=f"extra folder of protocol YAML files (repeatable; searched before {ENV_VAR} folders and the "
        "built-ins, so a protocol there overrides a built-in with the same id)")


def library_from_args(args: argparse.Namespace) -> ProtocolLibrary:
    """The protocol library for parsed arguments of a command using :func:`add_protocol_dir_argument`."""
    return load_library(getattr(args, "protocol_dirs", None) or ())
