"""Shared pytest fixtures.

- ``mrml_context``: a fresh headless MRML scene per test (slicer-core; ``import slicer`` costs ~2 s, so it
  is imported only when a test asks for the fixture). Tests using it are marked ``@pytest.mark.mrml``.
- ``synthetic_study`` / ``synthetic_study_files``: the default demo study (seed 0), generated once per
  session and written to a session temporary folder. Treat both as read-only.
- ``demo_study``: the same study written with the demo reader's registry, per test module.
- ``registry``: an operator registry file holding "Dr Demo", trained 10 days ago.
"""

from __future__ import annotations

import datetime as dt

import pytest


@pytest.fixture
def mrml_context():
    """A fresh ``MRMLContext.headless()``; its scene is cleared after the test."""
    pytest.importorskip("slicer", reason="slicer-core is not installed (pip install .[mrml])")
    from StandardSegLib.mrml.scene import MRMLContext

    context = MRMLContext.headless()
    yield context
    context.scene.Clear(True)


@pytest.fixture(scope="session")
def synthetic_study():
    """The default synthetic PET/CT study (``generate_study()`` with seed 0)."""
    from StandardSegLib.phantom import generate_study

    return generate_study()


@pytest.fixture(scope="session")
def synthetic_study_files(synthetic_study, tmp_path_factory):
    """``synthetic_study`` written with ``write_study`` (DICOM, NRRD, truth.json)."""
    from StandardSegLib.phantom import write_study

    return write_study(synthetic_study, tmp_path_factory.mktemp("synthetic") / "study")


@pytest.fixture(scope="module")
def demo_study(tmp_path_factory):
    """The demo's study written with its reader registry (``study/operators.json``), one per test module (the
    browser panel tests export into it): ``(study, files)``."""
    from StandardSegLib.demo import write_demo_registry
    from StandardSegLib.phantom import generate_study, write_study

    study = generate_study()
    files = write_study(study, tmp_path_factory.mktemp("demo") / "study")
    write_demo_registry(files.root)
    return study, files


@pytest.fixture
def registry(tmp_path):
    """An operator registry file with one operator, "Dr Demo", trained 10 days ago (valid in every protocol)."""
    from StandardSegLib.cli import main

    path = tmp_path / "operators.json"
    assert main(["operators", "--registry", str(path), "add", "Dr Demo",
                 "--trained-on", (dt.date.today() - dt.timedelta(days=10)).isoformat()]) == 0
    return path
