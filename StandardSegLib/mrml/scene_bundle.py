"""Save a scene as a Slicer data bundle (.mrb) with the StandardSeg session inside, and load it back.

The session JSON (protocol, gate, ROIs, segments' provenance, deviations...) is kept in a text node of the
scene, so the .mrb alone is enough to resume work or regenerate a report. Writing is atomic: the bundle is
zipped to a temporary file beside the target and renamed into place; an existing bundle is never replaced
unless asked.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator, Optional

from StandardSegLib.errors import InputError
from StandardSegLib.jsonable import to_jsonable

SESSION_ATTRIBUTE = "StandardSeg.Session"
SESSION_NODE_NAME = "StandardSeg session"


def store_session(scene: Any, document: dict) -> Any:
    """Put ``document`` (JSON-serialisable) into the scene's session text node, creating it if needed."""
    node = _session_node(scene) or scene.AddNewNodeByClass("vtkMRMLTextNode", SESSION_NODE_NAME)
    node.SetAttribute(SESSION_ATTRIBUTE, "1")
    node.SetText(json.dumps(to_jsonable(document), indent=2, allow_nan=False))
    return node


def stored_session(scene: Any) -> Optional[dict]:
    """The session document of the scene, or None if it has none."""
    node = _session_node(scene)
    return json.loads(node.GetText()) if node is not None else None


def save_bundle(context: Any, path: Path | str, overwrite: bool = False) -> Path:
    """Write the whole scene (data files included) to ``path`` (.mrb)."""
    path = Path(path).absolute()  # Slicer resolves relative paths against its own working folder
    if path.suffix.lower() != ".mrb":
        raise InputError(f"scene bundle {path}: expected a name ending in .mrb")
    if path.exists() and not overwrite:
        raise InputError(f"{path} exists; pass overwrite=True to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{path.stem}-", dir=path.parent))
    try:
        scene_dir = work / path.stem
        scene_dir.mkdir()
        if not context.application_logic.SaveSceneToSlicerDataBundleDirectory(str(scene_dir)):
            raise InputError(f"{path}: Slicer could not save the scene")
        packed = work / path.name
        with _captured_vtk_output() as messages:
            packed_ok = context.application_logic.Zip(str(packed), str(scene_dir))
        if not packed_ok:
            raise InputError(f"{path}: Slicer could not pack the scene ({messages.GetOutput().strip()[-300:]})")
        os.replace(packed, path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return path


def load_bundle(context: Any, path: Path | str, unpack_dir: Path | str) -> Optional[dict]:
    """Load a .mrb into the context's scene (unpacked under ``unpack_dir``); returns its session document."""
    path, unpack_dir = Path(path).absolute(), Path(unpack_dir).absolute()
    if not path.is_file():
        raise InputError(f"scene bundle {path} does not exist")
    Path(unpack_dir).mkdir(parents=True, exist_ok=True)
    if not context.application_logic.OpenSlicerDataBundle(str(path), str(unpack_dir)):
        raise InputError(f"{path}: Slicer could not open it as a scene bundle")
    return stored_session(context.scene)


@contextlib.contextmanager
def _captured_vtk_output() -> Iterator[Any]:
    """VTK's output window swapped for a string buffer: Slicer's Zip reports every file it adds as "Info",
    which would flood a console or test log; the text is kept for the error message if packing fails."""
    import vtk

    previous = vtk.vtkOutputWindow.GetInstance()
    buffer = vtk.vtkStringOutputWindow()
    vtk.vtkOutputWindow.SetInstance(buffer)
    try:
        yield buffer
    finally:
        vtk.vtkOutputWindow.SetInstance(previous)


def _session_node(scene: Any) -> Any:
    for index in range(scene.GetNumberOfNodesByClass("vtkMRMLTextNode")):
        node = scene.GetNthNodeByClass(index, "vtkMRMLTextNode")
        if node.GetAttribute(SESSION_ATTRIBUTE) == "1":
            return node
    return None


