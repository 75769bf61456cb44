"""The Python packages StandardSegLib needs inside Slicer, read from the repository's pins and installed on
first use - never when the module is loaded.

One list: ``requirements/constraints.txt``, the exact versions every install uses (run.sh and CI pass it to
pip). The extension installs that file beside the module (StandardSeg/CMakeLists.txt), and this module takes
from it every package except those Slicer's own Python already provides (replacing them could break Slicer),
those only the tests need and the build helpers of pyradiomics. So a dependency added to the pins is installed
in Slicer without editing this file; Testing/test_slicer_module_static.py checks that every name below is
still pinned.

pyradiomics has no wheel for Slicer's Python: its sdist compiles against the numpy already installed, so it
is installed with ``--no-build-isolation`` after ``versioneer`` and ``wheel`` (README, "Pinned dependencies").
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

CONSTRAINTS_FILE = Path("requirements") / "constraints.txt"

#: Pinned distributions Slicer's Python ships: never reinstalled from the pins.
PROVIDED_BY_SLICER = frozenset({"numpy", "simpleitk", "pydicom", "vtk", "slicer-core"})
#: Pinned for the test suite only.
TEST_ONLY = frozenset({"pytest"})
#: The browser panel (``standardseg serve``, outside Slicer) and its requirements: trame-slicer would pull in a
#: second slicer-core, so none of them goes into Slicer's Python.
WEB_PANEL_ONLY = frozenset({
    "trame-slicer", "trame", "trame-client", "trame-common", "trame-rca", "trame-server", "trame-vuetify",
    "slicer-layer-dm", "wslink", "aiohttp", "aiohappyeyeballs", "aiosignal", "frozenlist", "multidict", "propcache",
    "yarl", "idna", "fire", "termcolor", "lxml", "more-itertools", "pillow-avif-plugin", "py-undo-stack", "webcolors"})
#: Needed to build pyradiomics from its sdist; installed (any version) before it when absent.
BUILD_HELPERS = frozenset({"versioneer", "wheel"})
#: Built against the installed numpy: ``pip install --no-build-isolation``.
NO_BUILD_ISOLATION = frozenset({"pyradiomics"})

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([A-Za-z0-9.+!_-]+)$")


def canonical_name(name: str) -> str:
    """PEP 503 normalised distribution name (``PyYAML`` -> ``pyyaml``, ``python_gdcm`` -> ``python-gdcm``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Pin:
    """One ``NAME==VERSION`` line of the constraints file."""

    name: str
    version: str

    @property
    def key(self) -> str:
        return canonical_name(self.name)

    @property
    def requirement(self) -> str:
        return f"{self.name}=={self.version}"

    @property
    def no_build_isolation(self) -> bool:
        return self.key in NO_BUILD_ISOLATION


def find_constraints(roots: Iterable[Path]) -> Path:
    """The constraints file under the first root holding one (installed extension or source tree)."""
    roots = [Path(root) for root in roots]
    for root in roots:
        candidate = root / CONSTRAINTS_FILE
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{CONSTRAINTS_FILE.as_posix()} not found beside the StandardSeg module "
                            f"(looked in {', '.join(str(root) for root in roots)}); reinstall the extension")


def read_pins(path: Path) -> list[Pin]:
    """Every exact pin of a constraints file, in file order; anything but ``NAME==VERSION`` is an error."""
    pins = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        match = _PIN.match(text)
        if not match:
            raise ValueError(f"{path}:{number}: expected NAME==VERSION, found {text!r}")
        pins.append(Pin(match.group(1), match.group(2)))
    return pins


def slicer_requirements(pins: Sequence[Pin]) -> list[Pin]:
    """The pins Slicer must install: all but what Slicer provides, test-only packages, build helpers and the
    browser panel's."""
    skipped = PROVIDED_BY_SLICER | TEST_ONLY | BUILD_HELPERS | WEB_PANEL_ONLY
    return [pin for pin in pins if pin.key not in skipped]


def installed_version(name: str) -> Optional[str]:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def missing(pins: Sequence[Pin], version_of: Optional[Callable[[str], Optional[str]]] = None) -> list[Pin]:
    """The pins not installed at exactly their version (the versions the tests and the IBSI check ran on)."""
    version_of = version_of or installed_version
    return [pin for pin in pins if version_of(pin.name) != pin.version]


def install_message(pins: Sequence[Pin]) -> str:
    """What the confirmation dialog says: which packages, and why pyradiomics may take minutes."""
    lines = ["StandardSeg needs these Python packages, which are not installed in Slicer's Python yet:", ""]
    lines += [f"  {pin.requirement}" for pin in pins]
    if any(pin.no_build_isolation for pin in pins):
        lines += ["", "pyradiomics is compiled from source: this needs a C compiler and can take a few minutes."]
    lines += ["", "Install them now? Slicer may ask to restart afterwards."]
    return "\n".join(lines)


def ensure_installed(roots: Iterable[Path], requester: str = "StandardSeg") -> bool:
    """Install the missing pinned packages into Slicer's Python after asking the user; True when all are there.

    Call where the packages are first needed (starting a session), never at module load. Uses
    ``slicer.packaging.pip_ensure`` (Slicer >= 5.12: progress dialog, restart prompt) when present, else
    ``slicer.util.pip_install``; pyradiomics always goes through ``pip_install`` because it needs
    ``--no-build-isolation``, which ``pip_ensure`` cannot pass.
    """
    import slicer

    needed = missing(slicer_requirements(read_pins(find_constraints(roots))))
    if not needed:
        return True
    testing = slicer.app.testingEnabled()
    if not testing and not slicer.util.confirmOkCancelDisplay(install_message(needed),
                                                              windowTitle=f"{requester}: install Python packages"):
        return False
    plain = [pin.requirement for pin in needed if not pin.no_build_isolation]
    built = [pin.requirement for pin in needed if pin.no_build_isolation]
    if built:
        helpers = sorted(name for name in BUILD_HELPERS if installed_version(name) is None)
        if helpers:
            slicer.util.pip_install(helpers)
    if plain:
        packaging = getattr(slicer, "packaging", None)
        if packaging is not None and hasattr(packaging, "pip_ensure"):
            packaging.pip_ensure(plain, requester=requester, prompt_install=False, skip_in_testing=False)
        else:
            slicer.util.pip_install(plain)
    for requirement in built:
        slicer.util.pip_install(["--no-build-isolation", requirement])
    importlib.invalidate_caches()
    still_missing = missing(needed)
    if still_missing:
        logging.error("StandardSeg: still missing after installation: %s",
                      ", ".join(pin.requirement for pin in still_missing))
    return not still_missing
