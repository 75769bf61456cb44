"""The Slicer extension's CMake files list exactly the module, library and resource files of the tree.

What the module file does with its .ui and the library is checked in test_slicer_module_static.py."""

from __future__ import annotations

import re
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


def test_every_module_script_is_listed():
    """The module file and its StandardSegSlicer helpers, as slicerMacroBuildScriptedModule installs them."""
    listed = {name.replace("${MODULE_NAME}", "StandardSeg") for name in _cmake_list("MODULE_PYTHON_SCRIPTS")}
    present = {str(path.relative_to(ROOT / "StandardSeg")) for path in (ROOT / "StandardSeg").rglob("*.py")
               if "__pycache__" not in path.parts}
    assert "StandardSeg.py" in listed
    assert present - listed == set(), f"add to MODULE_PYTHON_SCRIPTS: {sorted(present - listed)}"
    assert listed - present == set(), f"remove from MODULE_PYTHON_SCRIPTS: {sorted(listed - present)}"


def test_pinned_requirements_are_installed_with_the_extension():
    """The module reads requirements/constraints.txt at run time to install what Slicer lacks."""
    assert _cmake_list("STANDARDSEG_REQUIREMENTS") == {"requirements/constraints.txt"}
    assert (ROOT / "requirements" / "constraints.txt").is_file()
    compile_call = re.search(r"ctkMacroCompilePythonScript\((.*?)\n\s*\)", MODULE_CMAKE.read_text(), re.S).group(1)
    assert 'RESOURCES "${STANDARDSEG_SHARED_RESOURCES};${STANDARDSEG_REQUIREMENTS}"' in compile_call


def test_top_level_is_an_extension():
    top = (ROOT / "CMakeLists.txt").read_text()
    for needle in ("find_package(Slicer REQUIRED)", "add_subdirectory(StandardSeg)", 'EXTENSION_CATEGORY "Quantification"',
                   "Slicer_EXTENSION_CPACK"):
        assert needle in top
    module_cmake = MODULE_CMAKE.read_text()
    assert "slicerMacroBuildScriptedModule" in module_cmake
    assert "WITH_GENERIC_TESTS" in module_cmake
    assert "slicer_add_python_unittest(SCRIPT ${MODULE_NAME}.py)" in module_cmake
