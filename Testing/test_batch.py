"""``standardseg batch`` (issue 14): a cohort of real and generated cases on a 2-process LocalCluster.

One batch (module fixture) holds the three real STS patients (FDG PET with the expert GTV from the RTSTRUCT,
vendored), three cases on the generated demo study (one given as a JOB.yaml path), a case whose image is
broken, and a case whose worker is made to exit while writing its bundle (``STANDARDSEG_BATCH_TEST_EXIT_IN_CASE``).
Checked: exit status 4 (partial), the broken case fails alone with a one-line reason and its traceback in a
log, the killed case leaves no partial bundle and completes on retry, cohort.csv / .parquet state the bundles'
own numbers and the published GTV volumes, a second invocation with ``--resume``, sent to an existing
scheduler, skips every finished case. Manifest checks, the resume check and the QC statistics are tested
without a cluster.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
import math
from pathlib import Path

import pytest
import yaml

from StandardSegLib.batch import read_manifest
from StandardSegLib.batch.case_task import EXIT_IN_CASE_VARIABLE
from StandardSegLib.batch.cohort_qc import modified_z_outliers, summary
from StandardSegLib.batch.resume import stale_reason
from StandardSegLib.cli import main
from StandardSegLib.errors import InputError

STS = Path(__file__).parent / "Data" / "real" / "sts"
PATIENTS = ("STS_001", "STS_002", "STS_003")
EXPERT_GTV_ML = {"sts-001": 366.0, "sts-002": 54.0, "sts-003": 80.0}
KILLED, BROKEN = "demo-b", "broken"
OPERATOR = "Dr Demo"


def _registry(folder: Path) -> Path:
    from StandardSegLib.operators import OperatorRegistry

    path = folder / "operators.json"
    OperatorRegistry.open(path).add(OPERATOR, dt.date.today() - dt.timedelta(days=10))
    return path


def _sts_job(patient: str) -> dict:
    """The expert PET GTV (RTSTRUCT ROI) as the lesion; radiomics on STS_001 only (the slowest step, tested
    elsewhere)."""
    return {"case": patient.lower().replace("_", "-"), "site": "sts-centre", "schema": "standardseg.session/1",
            "image": {"path": (STS / patient / "PET" / "image").as_posix()},
            "protocol": {"id": "fdg-pet-ct-oncology"}, "operator": {"name": OPERATOR, "registry": "operators.json"},
            "override": "IBSI STS crop around the tumour: no liver for SNR/TBR",
            "lesions": [{"name": "gtv", "mask": {"path": (STS / patient / "PET" / "mask" / "RS.dcm").as_posix(),
                                                 "roi": "GTV_Mass_PET"}}],
            "radiomics": patient == PATIENTS[0]}


@pytest.fixture(scope="module")
def cohort(synthetic_study, synthetic_study_files, tmp_path_factory):
    """The manifest folder and the batch output of one 2-worker run (exit status, output, folder)."""
    from StandardSegLib.demo import demo_session

    folder = tmp_path_factory.mktemp("cohort")
    registry = _registry(folder)
    demo = demo_session(synthetic_study, synthetic_study_files, synthetic_study_files.root.parent)
    document = demo.to_dict(paths=lambda text: demo.resolve(text).as_posix())
    document["operator"] = {"name": OPERATOR, "registry": registry.name}
    spheres = document["lesions"]
    (folder / "jobs").mkdir()
    job_b = {**document, "operator": {"name": OPERATOR, "registry": "../operators.json"}, "lesions": spheres[4:],
             "radiomics": False}
    (folder / "jobs" / f"{KILLED}.yaml").write_text(yaml.safe_dump(job_b), encoding="utf-8")
    broken = folder / "broken_image"
    broken.mkdir()
    (broken / "slice.dcm").write_bytes(b"not a DICOM file")
    manifest = [
        *(_sts_job(patient) for patient in PATIENTS),
        {**document, "case": "demo-a", "site": "synthetic", "lesions": spheres[2:4]},
        {"job": f"jobs/{KILLED}.yaml", "site": "synthetic"},
        {**document, "case": "demo-c", "site": "synthetic", "lesions": spheres[3:5], "radiomics": False},
        {**document, "case": BROKEN, "image": {"path": "broken_image"}},
    ]
    (folder / "cohort.yaml").write_text(yaml.safe_dump(manifest), encoding="utf-8")
    out = folder / "out"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(EXIT_IN_CASE_VARIABLE, KILLED)  # inherited by the LocalCluster's worker processes
        status = main(["batch", str(folder / "cohort.yaml"), "-o", str(out), "--workers", "2"])
    return {"folder": folder, "out": out, "status": status, "batch": json.loads((out / "batch.json").read_text())}


def _cases(batch: dict) -> dict:
    return {case["case"]: case for case in batch["cases"]}


def test_batch_is_partial_and_the_broken_case_fails_alone(cohort, capsys):
    assert cohort["status"] == 4
    cases = _cases(cohort["batch"])
    assert len(cases) == 7
    assert {name: case["status"] for name, case in cases.items() if name != BROKEN} == dict.fromkeys(
        ["sts-001", "sts-002", "sts-003", "demo-a", KILLED, "demo-c"], "done")
    broken = cases[BROKEN]
    assert broken["status"] == "failed" and broken["bundle"] is None
    assert "broken_image" in broken["reason"] and "\n" not in broken["reason"]
    log = (cohort["out"] / broken["log"]).read_text()
    assert "Traceback (most recent call last)" in log
    assert not (cohort["out"] / "cases" / BROKEN).exists()


def test_killed_worker_leaves_no_partial_bundle_and_the_case_completes(cohort):
    out = cohort["out"]
    assert (out / "logs" / f".exited-in-{KILLED}").exists()  # the worker did exit while writing the bundle
    assert not [path.name for path in (out / "cases").iterdir() if path.name.startswith(".")]
    bundle = out / "cases" / KILLED
    report = json.loads((bundle / "report.json").read_text())
    assert sorted(segment["name"] for segment in report["segments"]) == ["sphere-5", "sphere-6"]
    assert set(report["outputs"]) <= {path.relative_to(bundle).as_posix() for path in bundle.rglob("*")}


def test_cohort_table_states_the_bundles_numbers(cohort):
    import pyarrow.parquet as pq

    out = cohort["out"]
    rows = list(csv.DictReader(io.StringIO((out / "cohort.csv").read_text())))
    for case in ("sts-002", "demo-a", "demo-c"):
        bundle_rows = list(csv.DictReader(io.StringIO((out / "cases" / case / "measurements.csv").read_text())))
        expected = {(row["segment"], row["measure"]): (row["value"], row["unit"]) for row in bundle_rows}
        found = {(row["lesion"], row["measure"]): (row["value"], row["unit"]) for row in rows
                 if row["case"] == case and row["unit"] != ""}
        assert found == expected
    features = json.loads((out / "cases" / "demo-a" / "report.json").read_text())["segments"][0]["radiomics"]
    sphericity = next(row for row in rows if row["case"] == "demo-a" and row["lesion"] == "sphere-3"
                      and row["measure"] == "original_shape_Sphericity")
    assert float(sphericity["value"]) == features["features"]["original_shape_Sphericity"]
    assert not [row for row in rows if row["case"] == "demo-c" and row["measure"].startswith("original_")]
    assert {row["site"] for row in rows if row["case"].startswith("sts")} == {"sts-centre"}
    volumes = {row["case"]: float(row["value"]) / 1000.0 for row in rows if row["measure"] == "volume_voxels"
               and row["case"].startswith("sts")}
    assert volumes == pytest.approx(EXPERT_GTV_ML, rel=0.02)  # Testing/Data/README.md: the published GTVs
    table = pq.read_table(out / "cohort.parquet").to_pylist()
    assert len(table) == len(rows)
    for parquet_row, csv_row in zip(table, rows):
        value = float(csv_row["value"]) if csv_row["value"] else None
        assert parquet_row["value"] == value and parquet_row["measure"] == csv_row["measure"]


def test_cohort_page_and_provenance(cohort):
    out, batch = cohort["out"], cohort["batch"]
    page = (out / "cohort.html").read_text()
    for text in ("Failures", "broken_image", "Gate verdicts", "IBSI STS crop", "Inter-case QC", "GE MEDICAL SYSTEMS",
                 "sts-centre", "Radiomics features"):
        assert text in page
    assert batch["complete"] is False and batch["runs"][-1]["counts"] == {"done": 6, "partial": 0, "skipped": 0,
                                                                          "failed": 1}
    assert batch["cluster"] == {"kind": "LocalCluster", "workers": 2, "threads_per_worker": 1, "memory_limit": "auto"}
    assert batch["manifest"]["path"] == "../cohort.yaml" and batch["software"]["distributed"]
    for patient in PATIENTS:  # identifiers quoted in pydicom's warnings (the patient name) never reach a log
        for log in (out / "logs").glob("*.log"):
            assert patient not in log.read_text()


def test_second_invocation_skips_every_finished_case(cohort):
    """The second run goes to an existing scheduler (``--scheduler``), as on a cluster: the same code path."""
    from distributed import LocalCluster

    out = cohort["out"]
    before = {path: path.stat().st_mtime_ns for path in (out / "cases").rglob("report.json")}
    assert main(["batch", str(cohort["folder"] / "cohort.yaml"), "-o", str(out)]) == 2  # refused without --resume
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        status = main(["batch", str(cohort["folder"] / "cohort.yaml"), "-o", str(out), "--resume",
                       "--scheduler", cluster.scheduler_address])
    assert status == 4  # the broken case fails again
    batch = json.loads((out / "batch.json").read_text())
    assert batch["runs"][-1]["counts"] == {"done": 0, "partial": 0, "skipped": 6, "failed": 1}
    assert batch["cluster"] == {"kind": "existing scheduler"}
    assert len(batch["runs"]) == 2
    assert {path: path.stat().st_mtime_ns for path in (out / "cases").rglob("report.json")} == before


def test_stale_bundle_is_named(cohort):
    cases = {case.case_id: case for case in read_manifest(cohort["folder"] / "cohort.yaml")}
    bundle = cohort["out"] / "cases" / "demo-a"
    assert stale_reason(cases["demo-a"], bundle) is None
    moved = dataclasses.replace(cases["demo-a"].session.lesions[0], seeds=((0.0, 0.0, 0.0),))
    changed = dataclasses.replace(cases["demo-a"], session=dataclasses.replace(
        cases["demo-a"].session, lesions=(moved, *cases["demo-a"].session.lesions[1:])))
    assert stale_reason(changed, bundle) == "the job changed (image, ROIs, lesions, methods or parameters)"
    assert "not a finished bundle" in stale_reason(cases["demo-a"], cohort["out"] / "cases" / "missing")


def test_manifest_names_every_bad_item(tmp_path, synthetic_study_files):
    registry = _registry(tmp_path)
    good = {"schema": "standardseg.session/1", "image": {"path": synthetic_study_files.pet_dicom[0].parent.as_posix()},
            "protocol": {"id": "fdg-pet-ct-oncology"}, "operator": {"name": OPERATOR, "registry": registry.name},
            "lesions": [{"name": "a", "seeds": [[0, 0, 0]]}]}
    manifest = [
        {**good, "case": "ok"},
        {**good, "case": "ok"},
        {**good, "case": "no-image", "image": {"path": "missing"}},
        {**good, "case": "bad-protocol", "protocol": {"id": "no-such-protocol"}},
        {**good, "case": "bad/id"},
        {**good, "case": "no-lesions", "lesions": "none"},
        {**good},
        "jobs/missing.yaml",
    ]
    path = tmp_path / "manifest.yaml"
    path.write_text(yaml.safe_dump(manifest), encoding="utf-8")
    with pytest.raises(InputError) as raised:
        read_manifest(path)
    message = str(raised.value)
    assert message.splitlines()[0] == f"{path}: 7 bad item(s), no case was run:"
    for expected in ("item 2: case id 'ok' is already used by item 1", "item 3: case no-image: image",
                     "item 4:", "no-such-protocol", "item 5: case:", "item 6: job: lesions",
                     "item 7: expected a 'case' key", "item 8:", "missing.yaml"):
        assert expected in message


def test_csv_manifest_one_row_per_lesion(tmp_path, synthetic_study_files):
    registry = _registry(tmp_path)
    image = Path(synthetic_study_files.pet_dicom[0].parent).as_posix()
    path = tmp_path / "cohort.csv"
    path.write_text(
        "case,image,protocol,operator,registry,lesion,method,seed,mask,roi,override,site\n"
        f"p1,{image},fdg-pet-ct-oncology,{OPERATOR},{registry.name},l1,pet-percent-max,1;2;3,,,,A\n"
        f"p1,{image},fdg-pet-ct-oncology,{OPERATOR},{registry.name},l2,,-4.5;5;6,,,,A\n"
        f"p2,{image},fdg-pet-ct-oncology,{OPERATOR},{registry.name},l1,,7;8;9,,,no liver,\n", encoding="utf-8")
    first, second = read_manifest(path)
    assert (first.case_id, first.site, second.case_id, second.site) == ("p1", "A", "p2", None)
    assert [(lesion.name, lesion.method, lesion.seeds) for lesion in first.session.lesions] == [
        ("l1", "pet-percent-max", ((1.0, 2.0, 3.0),)), ("l2", None, ((-4.5, 5.0, 6.0),))]
    assert second.session.override == "no liver" and first.session.resolve(first.session.registry) == registry
    path.write_text(
        "case,image,protocol,operator,lesion,seed,mask,roi\n"
        f"p1,{image},fdg-pet-ct-oncology,{OPERATOR},l1,1;2,,\n"
        f"p1,other,fdg-pet-ct-oncology,{OPERATOR},l2,1;2;3,,\n"
        f"p2,{image},fdg-pet-ct-oncology,{OPERATOR},l1,,,GTV\n"
        f"p3,{image},fdg-pet-ct-oncology,{OPERATOR},l1,1;2;x,,\n", encoding="utf-8")
    with pytest.raises(InputError) as raised:
        read_manifest(path)
    message = str(raised.value)
    assert "3 bad item(s)" in message
    assert "case 'p3' (line 5): line 5: column seed: expected 'x;y;z' in LPS mm, found '1;2;x'" in message
    assert "case 'p1' (line 2, 3): column image: expected one value for the whole case" in message
    assert "case 'p2' (line 4): line 4: column roi: expected an RTSTRUCT file in column mask" in message
    rtstruct = (STS / "STS_002" / "PET" / "mask" / "RS.dcm").as_posix()
    path.write_text(
        "case,image,protocol,operator,registry,lesion,mask,roi\n"
        f"p1,{STS.as_posix()}/STS_002/PET/image,fdg-pet-ct-oncology,{OPERATOR},{registry.name},gtv,{rtstruct},"
        "GTV_Mass_PET\n"
        f"p2,{STS.as_posix()}/STS_002/PET/image,fdg-pet-ct-oncology,{OPERATOR},{registry.name},gtv,{rtstruct},GTV\n",
        encoding="utf-8")
    with pytest.raises(InputError) as raised:
        read_manifest(path)
    assert "1 bad item(s)" in str(raised.value)
    assert "case 'p2' (line 3): case p2: lesion gtv mask RS.dcm: expected ROI 'GTV', found the ROIs ['GTV_Mass_PET']" \
        in str(raised.value)


def test_modified_z_score_outliers_and_summary():
    # Iglewicz & Hoaglin: median 12.5, MAD = median(|x - 12.5|) = 1.5, M(100) = 0.6745 x 87.5 / 1.5.
    values = {("a",): 10.0, ("b",): 11.0, ("c",): 12.0, ("d",): 13.0, ("e",): 14.0, ("f",): 100.0}
    (outlier,) = modified_z_outliers(values)
    assert outlier.key == ("f",) and outlier.median == 12.5
    assert math.isclose(outlier.modified_z, 0.6745 * 87.5 / 1.5)
    assert modified_z_outliers({key: value for key, value in values.items() if key != ("a",)})  # 5 values suffice
    assert modified_z_outliers(dict(list(values.items())[2:])) == []  # 4 values: no judgement
    assert modified_z_outliers(dict.fromkeys("abcdef", 1.0)) == []  # MAD 0
    stats = summary([1.0, 2.0, 3.0, 4.0])
    assert (stats["n"], stats["min"], stats["q1"], stats["median"], stats["q3"], stats["max"]) == (
        4, 1.0, 1.25, 2.5, 3.75, 4.0)


def test_progress_message_counts_and_eta():
    from StandardSegLib.batch import CaseResult
    from StandardSegLib.batch.runner import progress_message

    finished = [CaseResult("a", "done"), CaseResult("b", "failed"), CaseResult("c", "skipped")]
    # 3 finished in 45 s: 15 s per case, 5 left -> 75 s.
    assert progress_message(finished, 8, 45.0) == "3/8 cases: 1 done, 0 partial, 1 failed, 1 skipped, ETA 1m15s"
    assert progress_message(finished, 3, 45.0).endswith("ETA -")


def test_cluster_options_are_checked_before_any_work(tmp_path):
    from StandardSegLib.batch import ClusterSpec, run_batch

    for spec, expected in ((ClusterSpec(workers=0), "--workers: expected at least 1, found 0"),
                           (ClusterSpec(memory_limit="lots"), "--memory-limit: expected a size such as 4GiB")):
        with pytest.raises(InputError, match=expected):
            run_batch([], tmp_path / "out", spec)
        assert not (tmp_path / "out").exists()
