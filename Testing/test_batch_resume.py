"""``standardseg batch --resume`` decides by input content, not paths: a de-identified batch (whose session.json
records ``REMOVED/<hash>`` instead of paths) resumed skips every finished case, and after one input file of
one case changes, only that case runs again. Two one-lesion cases on copies of the generated PET series,
one worker, no radiomics (seconds).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil
from pathlib import Path

import pydicom
import pytest
import yaml

from StandardSegLib.batch import read_manifest
from StandardSegLib.batch.resume import stale_reason
from StandardSegLib.cli import main

OPERATOR = "Dr Demo"


@pytest.fixture(scope="module")
def scheduler():
    """One worker process for every run of the module (``--scheduler``: no cluster start-up per run)."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        yield cluster.scheduler_address


@pytest.fixture(scope="module")
def manifest(synthetic_study, synthetic_study_files, tmp_path_factory):
    """A manifest of cases "a" and "b", each on its own copy of the synthetic PET series."""
    from StandardSegLib.demo import demo_session
    from StandardSegLib.operators import OperatorRegistry

    tmp_path = tmp_path_factory.mktemp("resume")
    OperatorRegistry.open(tmp_path / "operators.json").add(OPERATOR, dt.date.today() - dt.timedelta(days=10))
    demo = demo_session(synthetic_study, synthetic_study_files, synthetic_study_files.root.parent)
    document = demo.to_dict(paths=lambda text: demo.resolve(text).as_posix())
    document.pop("anatomy")
    cases = []
    for name in ("a", "b"):
        shutil.copytree(synthetic_study_files.pet_dicom[0].parent, tmp_path / f"pet-{name}")
        cases.append({**document, "case": name, "image": {"path": f"pet-{name}"},
                      "operator": {"name": OPERATOR, "registry": "operators.json"},
                      "lesions": document["lesions"][2:3], "radiomics": False})
    path = tmp_path / "cohort.yaml"
    path.write_text(yaml.safe_dump(cases), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def first_run(manifest, scheduler):
    """The de-identified batch, run once: (batch folder, batch.json, report.json times)."""
    out = manifest.parent / "out"
    return out, _batch(manifest, out, scheduler), _report_times(out)


def _batch(manifest: Path, out: Path, scheduler: str, *options: str) -> dict:
    assert main(["batch", str(manifest), "-o", str(out), "--scheduler", scheduler, "--deidentify", *options]) == 0
    return json.loads((out / "batch.json").read_text(encoding="utf-8"))


def _report_times(out: Path) -> dict[str, int]:
    return {name: (out / "cases" / name / "report.json").stat().st_mtime_ns for name in ("a", "b")}


def test_deidentified_batch_resumes_by_input_content(manifest, scheduler, first_run):
    out, first, written = first_run
    assert first["runs"][-1]["counts"] == {"done": 2, "partial": 0, "skipped": 0, "failed": 0}
    recorded = json.loads((out / "cases" / "a" / "session.json").read_text(encoding="utf-8"))
    assert recorded["deidentify"] and recorded["image"]["path"] == "REMOVED"
    assert all(path.startswith("REMOVED/") for path in recorded["inputs"])  # no path left to compare

    resumed = _batch(manifest, out, scheduler, "--resume")
    assert resumed["runs"][-1]["counts"] == {"done": 0, "partial": 0, "skipped": 2, "failed": 0}
    assert _report_times(out) == written

    changed = sorted((manifest.parent / "pet-b").iterdir())[7]
    dataset = pydicom.dcmread(changed)
    dataset.SeriesDescription = "edited after the first run"
    dataset.save_as(changed)
    again = _batch(manifest, out, scheduler, "--resume")
    assert again["runs"][-1]["counts"] == {"done": 1, "partial": 0, "skipped": 1, "failed": 0}
    cases = {case["case"]: case for case in again["cases"]}
    assert cases["a"]["status"] == "skipped"
    assert cases["b"]["reason"] == ("re-run: the input files changed (1 of 30 new or modified, 1 of 30 recorded "
                                    "no longer read)")
    times = _report_times(out)
    assert times["a"] == written["a"] and times["b"] != written["b"]


def test_moved_unchanged_inputs_are_not_stale_but_other_parameters_are(manifest, first_run):
    """Same content at another path is the same input; a changed parameter still makes the case stale (case
    "a", whose input the other test leaves alone)."""
    job = read_manifest(manifest)[0]
    case = dataclasses.replace(job, session=dataclasses.replace(job.session, deidentify=True))  # as --deidentify
    bundle = first_run[0] / "cases" / "a"
    shutil.copytree(manifest.parent / "pet-a", manifest.parent / "moved")
    moved = dataclasses.replace(case, session=dataclasses.replace(case.session, image="moved"))
    assert stale_reason(moved, bundle) is None
    lesion = dataclasses.replace(case.session.lesions[0], parameters={"percent": 50})
    retuned = dataclasses.replace(case, session=dataclasses.replace(case.session, lesions=(lesion,)))
    assert stale_reason(retuned, bundle) == "the job changed (image, ROIs, lesions, methods or parameters)"
    assert stale_reason(job, bundle) == "de-identification changed (True -> False)"
