"""Where the extension's shared resources (protocols, schemas, templates, UI) live.

The same ``Resources/`` folder is found in three layouts: the source tree (beside ``StandardSegLib/``),
an installed Slicer extension (``qt-scripted-modules/Resources`` beside the package) and a pip wheel
(``StandardSegLib/Resources``, packed there by ``pyproject.toml``).
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def resources_dir() -> Path:
    """Return the ``Resources`` folder, whichever layout this installation uses."""
    for candidate in (_PACKAGE_DIR / "Resources", _PACKAGE_DIR.parent / "Resources"):
        if (candidate / "Protocols").is_dir():
            return candidate
    raise FileNotFoundError(
        f"StandardSeg resources not found next to {_PACKAGE_DIR} (expected a 'Resources/Protocols' folder)"
    )


def resource_path(*parts: str) -> Path:
    """Path of one resource, e.g. ``resource_path("Schemas", "protocol.schema.json")``."""
    return resources_dir().joinpath(*parts)
