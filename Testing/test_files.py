"""``StandardSegLib.files``: the file primitives at the bottom of the library (content hash, atomic write).

The hash is checked against hashlib over the whole content at once (the helper reads 1 MiB blocks); the write
against what a reader sees when the writing fails half-way. The module must import nothing of the library, so
every floor can use it without a cycle.
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

import pytest

from StandardSegLib import files
from StandardSegLib.files import atomic_write, sha256_of


def test_sha256_of_equals_hashlib_over_block_boundaries(tmp_path):
    data = bytes(range(256)) * ((3 << 20) // 256 + 7)  # 3 MiB + 1792 bytes: three full blocks and a partial one
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    assert sha256_of(path) == hashlib.sha256(data).hexdigest()


def test_atomic_write_replaces_the_target_or_leaves_it_untouched(tmp_path):
    target = tmp_path / "table.json"
    target.write_text("old", encoding="utf-8")

    def fail_half_way(temporary: Path) -> None:
        temporary.write_text("half", encoding="utf-8")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, ".json", fail_half_way)
    assert target.read_text(encoding="utf-8") == "old"
    assert [path.name for path in tmp_path.iterdir()] == ["table.json"]  # no temporary file left behind

    atomic_write(target, ".json", lambda temporary: temporary.write_text("new", encoding="utf-8"))
    assert target.read_text(encoding="utf-8") == "new"
    assert [path.name for path in tmp_path.iterdir()] == ["table.json"]


def test_files_module_imports_nothing_of_the_library():
    tree = ast.parse(Path(files.__file__).read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {name for name in imported if name.startswith("StandardSegLib")}
