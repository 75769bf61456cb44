"""The Slicer extension's CMake files list exactly the module, library and resource files of the tree,
and the module file parses, names its Lib pieces and uses only widgets that exist in its .ui."""

from __future__ import annotations

import ast
import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULE_CMAKE = ROOT / "StandardSeg" / "CMakeLists.txt"


def _cmake_list(name: str) -> set[str]:
    match = re.search(rf"set\({name}\n(.*?)\n\s*\)", MODULE_CMAKE.read_text(), re.S)
    assert match, f"{name} not found in {MODULE_CMAKE}"
    return {line.strip() for line in match.group(1).splitlines() if line.strip()}


def _tree(folder: str, pattern: str) -> set[str]:
    return {str(path.relative_to(ROOT)) for path in (ROOT / folder).rglob(pattern)
            if path.is_file() and "__pycache__" not in path.parts}


def test_every_library_file_is_listed():
    listed, present = _cmake_list("STANDARDSEG_LIB_PYTHON_SCRIPTS"), _tree("StandardSegLib", "*.py")
    assert present - listed == set(), f"add to {MODULE_CMAKE.name}: {sorted(present - listed)}"
    assert listed - present == set(), f"remove from {MODULE_CMAKE.name}: {sorted(listed - present)}"


def test_every_resource_is_listed():
    listed, present = _cmake_list("STANDARDSEG_SHARED_RESOURCES"), _tree("Resources", "*")
    assert present - listed == set(), f"add to {MODULE_CMAKE.name}: {sorted(present - listed)}"
    assert listed - present == set(), f"remove from {MODULE_CMAKE.name}: {sorted(listed - present)}"


def test_module_scripts_exist_and_top_level_is_an_extension():
    assert _cmake_list("MODULE_PYTHON_SCRIPTS") == {"${MODULE_NAME}.py"}
    assert (ROOT / "StandardSeg" / "StandardSeg.py").is_file()
    top = (ROOT / "CMakeLists.txt").read_text()
    for needle in ("find_package(Slicer REQUIRED)", "add_subdirectory(StandardSeg)", 'EXTENSION_CATEGORY "Quantification"',
                   "Slicer_EXTENSION_CPACK"):
        assert needle in top
    assert "slicerMacroBuildScriptedModule" in MODULE_CMAKE.read_text()
    assert "WITH_GENERIC_TESTS" in MODULE_CMAKE.read_text()


def test_module_parses_and_uses_only_widgets_of_its_ui():
    source = (ROOT / "StandardSeg" / "StandardSeg.py").read_text()
    tree = ast.parse(source)
    classes = {node.name for node in tree.body if isinstance(node, ast.ClassDef)}
    assert {"StandardSeg", "StandardSegWidget", "StandardSegLogic", "StandardSegTest"} <= classes
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert {"StandardSegLib.protocols", "StandardSegLib.mrml.display"} <= imported
    for module in imported:
        if module.startswith("StandardSegLib"):
            assert (ROOT / (module.replace(".", "/") + ".py")).is_file() or (ROOT / module.replace(".", "/")).is_dir()

    ui = ElementTree.parse(ROOT / "Resources" / "UI" / "StandardSeg.ui")
    widgets = {w.get("name"): w.get("class") for w in ui.iter("widget")}
    used = set(re.findall(r"self\.ui\.(\w+)", source))
    assert used, "the widget uses no ui element?"
    assert used - widgets.keys() == set(), f"missing from the .ui: {sorted(used - widgets.keys())}"
    known = {"qMRMLWidget", "ctkCollapsibleButton", "qMRMLNodeComboBox", "QComboBox", "QLabel", "QPushButton",
             "QTextBrowser"}
    assert set(widgets.values()) <= known, set(widgets.values()) - known
