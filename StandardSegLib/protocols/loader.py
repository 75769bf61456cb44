"""Reading protocol YAML files and assembling the protocol library (built-in and user folders).

Search order, first match of an id wins (like ``PATH``):

1. folders given with ``--protocol-dir DIR`` (repeatable), in the order given;
2. folders in the environment variable ``STANDARDSEG_PROTOCOL_PATH`` (separated by ``os.pathsep``: ``:`` on
   Linux/macOS, ``;`` on Windows), in order;
3. the built-in protocols in ``Resources/Protocols``.

So a user protocol with the id of a built-in replaces it; the library remembers what was replaced so that
``standardseg protocols list`` can say so. Two files with the same id in one folder are an error, as is a
folder that does not exist. Protocol files are ``*.yaml`` / ``*.yml`` directly in the folder (hidden files
are skipped). One bad file makes loading fail with its one-line message: silently skipping a broken SOP
would let a study run under a different protocol than intended.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

import yaml

from StandardSegLib.errors import ProtocolError
from StandardSegLib.protocols.model import BUILTIN, USER, Protocol
from StandardSegLib.protocols.validation import validate_document
from StandardSegLib.resources import resource_path

ENV_VAR = "STANDARDSEG_PROTOCOL_PATH"
PROTOCOL_SUFFIXES = (".yaml", ".yml")

PathLike = Union[str, os.PathLike]


class _UniqueKeyLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml when PyYAML was built with it
    """Safe loader that rejects repeated keys, which plain YAML loading silently resolves to the last one."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            repeated = key in mapping
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, f"expected a text key, found a {type(key).__name__}", key_node.start_mark) from None
        if repeated:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (each key may appear once per mapping)", key_node.start_mark)
        mapping[key] = loader.construct_object(value_node, deep=deep)
    return mapping


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_document(path: PathLike) -> Any:
    """Parse one protocol file into plain Python values; unreadable files and bad YAML raise ProtocolError."""
    label = str(path)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise ProtocolError(f"{label}: expected a protocol file, found no such file") from None
    except IsADirectoryError:
        raise ProtocolError(f"{label}: expected a protocol file, found a directory") from None
    except OSError as error:
        raise ProtocolError(f"{label}: cannot read the file ({error.strerror})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ProtocolError(
            f"{label}: expected UTF-8 text, found an undecodable byte at offset {error.start}") from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a safe loader subclass
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = error.problem or error.context or "unreadable YAML"
        raise ProtocolError(f"{label}: {where}invalid YAML: {problem}") from None
    except yaml.YAMLError as error:
        raise ProtocolError(f"{label}: invalid YAML: {error}") from None


def load_protocol_file(path: PathLike, origin: str = USER) -> Protocol:
    """Read and validate one protocol file (``origin``: "builtin" or "user")."""
    document = read_document(path)
    validate_document(document, str(path))
    return Protocol.from_document(document, Path(path), origin)


def protocol_files(directory: Path) -> list[Path]:
    """The protocol files directly in ``directory``, sorted by name."""
    return sorted(path for path in directory.iterdir()
                  if path.suffix.lower() in PROTOCOL_SUFFIXES and not path.name.startswith(".") and path.is_file())


class ProtocolLibrary:
    """The protocols available to a session: id -> Protocol, after user folders override built-ins."""

    def __init__(self, protocols: Mapping[str, Protocol],
                 overridden: Optional[Mapping[str, Sequence[Protocol]]] = None):
        self._protocols = dict(sorted(protocols.items()))
        self._overridden = {key: tuple(value) for key, value in (overridden or {}).items()}

    def get(self, protocol_id: str) -> Protocol:
        try:
            return self._protocols[protocol_id]
        except KeyError:
            known = ", ".join(self._protocols) or "none"
            raise ProtocolError(f"unknown protocol id {protocol_id!r}: expected one of {known}") from None

    def all(self) -> tuple[Protocol, ...]:
        """Every available protocol, sorted by id."""
        return tuple(self._protocols.values())

    def overridden(self, protocol_id: str) -> tuple[Protocol, ...]:
        """Protocols with this id that a higher-priority folder replaced (empty if none)."""
        return self._overridden.get(protocol_id, ())

    def __contains__(self, protocol_id: object) -> bool:
        return protocol_id in self._protocols

    def __len__(self) -> int:
        return len(self._protocols)


def _environment_dirs(environ: Mapping[str, str]) -> list[Path]:
    return [Path(part) for part in environ.get(ENV_VAR, "").split(os.pathsep) if part.strip()]


def search_path(extra_dirs: Iterable[PathLike] = (),
                environ: Optional[Mapping[str, str]] = None) -> list[tuple[Path, str, str]]:
    """(folder, origin, where it came from) in priority order, see the module docstring."""
    environ = os.environ if environ is None else environ
    entries = [(Path(directory), USER, "--protocol-dir") for directory in extra_dirs]
    entries += [(directory, USER, ENV_VAR) for directory in _environment_dirs(environ)]
    entries.append((resource_path("Protocols"), BUILTIN, "built-in protocols"))
    return entries


def load_library(extra_dirs: Iterable[PathLike] = (), environ: Optional[Mapping[str, str]] = None) -> ProtocolLibrary:
    """Load built-in protocols plus user folders (``extra_dirs`` and ``STANDARDSEG_PROTOCOL_PATH``)."""
    chosen: dict[str, Protocol] = {}
    overridden: dict[str, list[Protocol]] = {}
    visited: set[Path] = set()
    for directory, origin, given_by in search_path(extra_dirs, environ):
        if not directory.is_dir():
            raise ProtocolError(f"{directory}: expected a folder of protocol files (from {given_by}), found none")
        if directory.resolve() in visited:
            continue
        visited.add(directory.resolve())
        in_this_dir: dict[str, Path] = {}
        for path in protocol_files(directory):
            protocol = load_protocol_file(path, origin)
            if protocol.id in in_this_dir:
                raise ProtocolError(f"{path}: id: expected an id unique within {directory}, found {protocol.id!r} "
                                    f"also in {in_this_dir[protocol.id].name}")
            in_this_dir[protocol.id] = path
            if protocol.id in chosen:
                overridden.setdefault(protocol.id, []).append(protocol)
            else:
                chosen[protocol.id] = protocol
    return ProtocolLibrary(chosen, overridden)
