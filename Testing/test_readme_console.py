"""The README's examples run as written: the console API walk-through (headless) and the JOB.yaml.

Both are read from README.md itself, so a README change that breaks them fails here. The demo study they
expect (``standardseg-demo/study``) is generated into a temporary folder that stands in for the repository.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _block(heading: str, language: str) -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index(heading):]
    return re.search(rf"```{language}\n(.*?)```", section, re.S).group(1)


@pytest.fixture
def demo_folder(tmp_path, synthetic_study):
    from StandardSegLib.demo import write_demo_registry
    from StandardSegLib.phantom import write_study

    files = write_study(synthetic_study, tmp_path / "standardseg-demo" / "study")
    write_demo_registry(files.root)
    previous = Path.cwd()
    os.chdir(tmp_path)
    yield tmp_path
    os.chdir(previous)


@pytest.mark.mrml
def test_console_example_runs(demo_folder):
    pytest.importorskip("slicer", reason="slicer-core is not installed")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(_block("### The guided session on an MRML scene", "python"), "README.md", "exec"), {})
    lines = printed.getvalue().split()
    assert lines[0] == "pass"
    assert float(lines[1]) == pytest.approx(2.0, abs=0.1)
    report = json.loads((demo_folder / "console-report" / "report.json").read_text(encoding="utf-8"))
    assert report["segments"][0]["provenance"]["voxel_count"] == int(lines[2])
    assert (demo_folder / "console-session.mrb").is_file()


def test_job_example_runs(demo_folder):
    from StandardSegLib.cli import main

    (demo_folder / "job.yaml").write_text(_block("## Sessions: JOB.yaml and session.json", "yaml"), encoding="utf-8")
    assert main(["run", "job.yaml", "-o", "job-report"]) == 0
    report = json.loads((demo_folder / "job-report" / "report.json").read_text(encoding="utf-8"))
    assert [segment["name"] for segment in report["segments"]] == ["sphere-6", "sphere-5"]
