"""Bundle folders (issue 11, section 5): no silent replacement, no patient data left behind.

- Two writers racing into one new folder (threads, then processes): exactly one succeeds, the other is
  refused, nothing is moved aside, no staging folder is left.
- ``standardseg run`` stopped by SIGTERM or SIGHUP while writing: exit 128 + signal, one line on stderr, no
  bundle and no ``.NAME.partial-*`` folder.
- A staging folder of a killed process is swept (with a message) by the next run into the same parent; one
  of a live process is not.
- ``-o ../dir`` from the folder holding the inputs is outside them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import yaml

from StandardSegLib.cli import main
from StandardSegLib.errors import InputError
from StandardSegLib.report.atomic_folder import partial_prefix, sweep_stale_partials, write_atomically

DRO = Path(__file__).parent / "Data" / "suv_dro" / "DRO_0_0"
REPO = Path(__file__).resolve().parents[1]


def _dro_job(folder: Path, registry: Path, image: Path = DRO / "PT") -> Path:
    """A job on the SUV DRO with a hand-drawn 3x3x3-voxel lesion inside its mask (fast: no radiomics, tiny mesh)."""
    dro_mask = sitk.ReadImage(str(DRO / "mask" / "DRO_mask.nii.gz"))
    voxels = np.zeros(sitk.GetArrayViewFromImage(dro_mask).shape, np.uint8)
    k, j, i = (int(np.median(axis)) for axis in np.nonzero(sitk.GetArrayViewFromImage(dro_mask)))
    voxels[k - 1:k + 2, j - 1:j + 2, i - 1:i + 2] = 1
    mask = sitk.GetImageFromArray(voxels)
    mask.CopyInformation(dro_mask)
    (folder / "mask").mkdir()
    sitk.WriteImage(mask, str(folder / "mask" / "lesion.nii.gz"))
    job = {"schema": "standardseg.session/1", "image": {"path": str(image)}, "protocol": {"id": "fdg-pet-ct-oncology"},
           "operator": {"name": "Dr Demo", "registry": str(registry)},
           "lesions": [{"name": "lesion", "mask": str(folder / "mask" / "lesion.nii.gz")}], "radiomics": False,
           "override": "test object without gate ROIs"}
    path = folder / "job.yaml"
    path.write_text(yaml.safe_dump(job), encoding="utf-8")
    return path


def _leftovers(parent: Path) -> list[str]:
    return sorted(path.name for path in parent.iterdir() if ".partial-" in path.name or ".previous-" in path.name)


def test_racing_threads_one_wins_the_other_is_refused(tmp_path):
    for attempt in range(5):
        target = tmp_path / f"bundle-{attempt}"
        barrier = threading.Barrier(2)
        outcomes: dict[str, str] = {}

        def writer(name: str) -> None:
            def fill(staging: Path) -> None:
                (staging / "report.json").write_text(name)
                barrier.wait(timeout=10)  # both finished filling: the renames race

            try:
                write_atomically(target, fill)
                outcomes[name] = "written"
            except InputError as error:
                outcomes[name] = str(error)

        threads = [threading.Thread(target=writer, args=(name,)) for name in ("first", "second")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        winners = [name for name, outcome in outcomes.items() if outcome == "written"]
        assert len(winners) == 1, outcomes
        loser = next(outcome for outcome in outcomes.values() if outcome != "written")
        assert "already exists" in loser and "--overwrite" in loser
        assert (target / "report.json").read_text() == winners[0]
        assert _leftovers(tmp_path) == []


_RACER = """
import sys, time
from pathlib import Path
from StandardSegLib.errors import InputError
from StandardSegLib.report.atomic_folder import write_atomically

target, go, name = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
def fill(staging):
    (staging / "report.json").write_text(name)
    while not go.exists():
        time.sleep(0.005)
try:
    write_atomically(target, fill)
except InputError:
    sys.exit(2)
"""


def test_racing_processes_one_wins_the_other_is_refused(tmp_path):
    target, go = tmp_path / "bundle", tmp_path / "go"
    racers = [subprocess.Popen([sys.executable, "-c", _RACER, str(target), str(go), name], cwd=REPO)
              for name in ("first", "second")]
    while len(list(tmp_path.glob(".bundle.partial-*/report.json"))) < 2:  # both filled, neither renamed
        time.sleep(0.01)
    go.touch()
    statuses = sorted(racer.wait(timeout=60) for racer in racers)
    assert statuses == [0, 2]
    assert (target / "report.json").read_text() in ("first", "second")
    assert _leftovers(tmp_path) == []


def test_an_existing_empty_folder_is_not_replaced(tmp_path):
    target = tmp_path / "bundle"
    target.mkdir()
    with pytest.raises(InputError, match="already exists"):
        write_atomically(target, lambda staging: (staging / "report.json").write_text("x"))
    assert list(target.iterdir()) == [] and _leftovers(tmp_path) == []


_STOPPED_RUN = """
import sys, time
from pathlib import Path
from StandardSegLib.cli import main
from StandardSegLib.report import bundle

def slow_html(*args, **kwargs):  # the bundle is half written: segments and DICOM are in the staging folder
    Path(sys.argv[3]).touch()
    time.sleep(60)

bundle.report_html = slow_html
sys.exit(main(["run", sys.argv[1], "-o", sys.argv[2]]))
"""
_STOPPED_WRITE = """
import sys, time
from pathlib import Path
from StandardSegLib.errors import Terminated
from StandardSegLib.report.atomic_folder import write_atomically

def fill(staging):
    (staging / "report.json").write_text("patient data")
    Path(sys.argv[2]).touch()
    time.sleep(60)
try:
    write_atomically(Path(sys.argv[1]), fill)
except Terminated as error:
    print(error, file=sys.stderr)
    sys.exit(error.exit_code)
"""


def _stop_while_writing(command: list[str], out: Path, ready: Path, stop: signal.Signals) -> str:
    """Start ``command``, wait until it is writing into ``out``, send ``stop``; returns its stderr."""
    process = subprocess.Popen(command, cwd=REPO, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not ready.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ready.exists() and list(out.glob(".bundle.partial-*/*"))  # patient data on disk
    process.send_signal(stop)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 128 + stop, err
    assert list(out.iterdir()) == []
    return err.strip().splitlines()[-1]


def test_run_stopped_by_sigterm_leaves_nothing(tmp_path, registry):
    out, ready = tmp_path / "out", tmp_path / "writing"
    out.mkdir()
    last = _stop_while_writing([sys.executable, "-c", _STOPPED_RUN, str(_dro_job(tmp_path, registry)),
                                str(out / "bundle"), str(ready)], out, ready, signal.SIGTERM)
    assert last == "standardseg: error: stopped by SIGTERM; the unfinished bundle was removed"


def test_write_stopped_by_sighup_leaves_nothing(tmp_path):
    out, ready = tmp_path / "out", tmp_path / "writing"
    out.mkdir()
    last = _stop_while_writing([sys.executable, "-c", _STOPPED_WRITE, str(out / "bundle"), str(ready)], out, ready,
                               signal.SIGHUP)
    assert last == "stopped by SIGHUP; the unfinished bundle was removed"


def test_next_run_sweeps_stale_partials_and_accepts_dotdot_output(tmp_path, capsys, registry, monkeypatch):
    """From the folder holding the inputs, ``-o ../bundle`` is accepted (``sub/../inside`` is not), and the
    run sweeps the parent of a killed run's staging folder, not a live process's nor another host's."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f"{partial_prefix('old', dead.pid)}abc123"
    live = tmp_path / f"{partial_prefix('other', os.getpid())}def456"
    elsewhere = tmp_path / f".old.partial-otherhost-{dead.pid}-ghi789"  # another machine on a shared disk
    for folder in (stale, live, elsewhere):
        (folder / "dicom").mkdir(parents=True)
        (folder / "dicom" / "seg.dcm").write_bytes(b"patient data")
    job_folder = tmp_path / "job"
    shutil.copytree(DRO / "PT", job_folder)  # inputs in the job's own folder, as a user often has them
    job = _dro_job(job_folder, registry, image=Path("."))
    monkeypatch.chdir(job_folder)
    status = main(["run", "job.yaml", "-o", "../bundle"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert Path(captured.out.strip().splitlines()[-1]) == tmp_path / "bundle"
    assert json.loads((tmp_path / "bundle" / "report.json").read_text())["segments"]
    assert not stale.exists() and live.exists() and elsewhere.exists()
    assert f"removed {stale}, an unfinished bundle of a run that no longer exists" in captured.err
    assert sweep_stale_partials(tmp_path) == () and live.exists()
    status = main(["run", str(job), "-o", "sub/../inside"])  # still inside the inputs once normalised
    assert status == 2 and "outside the input folders" in capsys.readouterr().err
