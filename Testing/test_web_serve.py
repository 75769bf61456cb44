"""``standardseg serve`` end to end (issue 18, layer 2): real server processes on free loopback ports, driven by
Playwright with the operating system's Chromium (never a downloaded browser; skipped with the reason when it is
absent, a failure under ``CI=true``).

The reader's walk through the seven steps is made of clicks in the page and in the remote-rendered axial view.
The pixel for a point is found the way a reader finds it: the view is centred on the hottest voxel (its RAS is
shown), one calibration click shows where a pixel lands (the ROI's RAS is shown), and slice views have square
pixels aligned with the axes. Results are checked against the library run in this process on the same files:
the gate's verdicts for the ROIs as placed, the reference tissue's mean, the segment's voxel count from the
clicked seed, and the downloaded bundle's report.json. Screenshots go to ``Testing/screenshots/`` (not committed).

Every server is stopped by the test that started it (``StandardSegWeb.launcher.served``: SIGTERM, then kill
after 10 s).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import urllib.error
import urllib.request
import zipfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

pytestmark = pytest.mark.mrml
pytest.importorskip("slicer", reason="slicer-core is not installed")
pytest.importorskip("trame_slicer", reason="trame-slicer is not installed (pip install .[web])")

SCREENSHOTS = Path(__file__).parent / "screenshots"
START_TIMEOUT_S = 180
_URL = re.compile(r"http://127\.0\.0\.1:(\d+)/index\.html\?token=(\S+)")  # loopback only


@contextmanager
def running_server(study_files, out_dir: Path, study: Path | None = None, operator: str | None = None,
                   registry: Path | None = None):
    """``standardseg serve`` on a free loopback port (the demo study and reader unless ``study``, ``operator`` and
    ``registry`` are given); yields its URL; always stopped on exit."""
    from StandardSegLib.demo import DEMO_OPERATOR, DEMO_PROTOCOL_ID, DEMO_REGISTRY_NAME
    from StandardSegWeb.launcher import served

    arguments = [str(study or study_files.root), "--protocol", DEMO_PROTOCOL_ID,
                 "--operator", operator or DEMO_OPERATOR, "--registry", str(registry or study_files.root / DEMO_REGISTRY_NAME),
                 "--out", str(out_dir), "--port", "0"]
    with served(arguments, out_dir / "server.log", START_TIMEOUT_S) as panel:
        yield panel.url


def _browser(playwright):
    from test_report_html import _chromium  # the one place that finds (or skips for) the system's Chromium

    return playwright.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _numbers(text: str) -> list[float]:
    return [float(value) for value in re.findall(r"-?\d+(?:\.\d+)?", text)]


def _protocol_files() -> dict[str, dict]:
    """The built-in protocols by id, as their YAML files say (read here, not through the library)."""
    import yaml

    documents = [yaml.safe_load(path.read_text(encoding="utf-8"))
                 for path in (Path(__file__).parent.parent / "Resources" / "Protocols").glob("*.yaml")]
    return {document["id"]: document for document in documents}


class Reader:
    """Clicks in one page of the panel."""

    def __init__(self, page, name: str) -> None:
        self.page = page
        self.name = name

    def shot(self, step: str) -> None:
        SCREENSHOTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"web-{self.name}-{step}.png"))

    def open_step(self, number: int) -> None:
        self.page.locator(f"#step-{number} .v-expansion-panel-title").click()
        self.page.wait_for_timeout(300)

    def click(self, selector: str) -> None:
        self.page.locator(selector).click()

    def idle(self, timeout_ms: int = 120_000) -> None:
        self.page.wait_for_selector("#busy", state="detached", timeout=timeout_ms)
        assert not self.page.locator("#error").count(), self.page.locator("#error").inner_text()

    def axial_centre(self) -> tuple[float, float]:
        box = self.page.locator("#views img, #views canvas").first.bounding_box()
        return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2

    def click_view(self, x: float, y: float) -> None:
        self.page.mouse.move(x, y)
        self.page.mouse.down()
        self.page.mouse.up()
        self.page.wait_for_timeout(800)

    def roi(self, role: str, moved_from: np.ndarray | None = None) -> np.ndarray:
        """The ROI centre the page shows (RAS mm); with ``moved_from``, once it shows another position."""
        locator = self.page.locator(".roi", has_text=f"{role}:")
        locator.wait_for(timeout=10_000)
        for _attempt in range(100):
            centre = np.array(_numbers(locator.inner_text().split(":", 1)[1])[:3])
            if moved_from is None or not np.allclose(centre, moved_from):
                return centre
            self.page.wait_for_timeout(100)
        raise AssertionError(f"{role} ROI still at {moved_from} after the click")

    def choose(self, select: str, item: str) -> None:
        """Pick ``item`` in the Vuetify select with id ``select`` (its menu opens in an overlay)."""
        self.page.locator(f".v-select:has(#{select})").click()
        self.page.locator(".v-overlay .v-list-item", has_text=item).first.click()
        self.page.wait_for_timeout(300)

    def hottest(self) -> np.ndarray:
        self.click("#btn-hottest")
        locator = self.page.locator("#hottest")
        locator.wait_for(timeout=10_000)
        return np.array(_numbers(locator.inner_text())[:3])


def _library_job(study_files, rois_ras: dict[str, tuple[np.ndarray, float]]):
    from StandardSegLib.demo import DEMO_OPERATOR, DEMO_PROTOCOL_ID, DEMO_REGISTRY_NAME
    from StandardSegLib.mrml.roi_markups import flip_lps_ras
    from StandardSegLib.session import RoiSpec, Session

    spheres = {role: RoiSpec(sphere=(*flip_lps_ras(tuple(ras)), diameter)) for role, (ras, diameter) in rois_ras.items()}
    return Session(base_dir=study_files.root, image=str(study_files.pet_dicom[0].parent), protocol_id=DEMO_PROTOCOL_ID,
                   operator=DEMO_OPERATOR, registry=str(study_files.root / DEMO_REGISTRY_NAME), lesions=(),
                   lesion_roi=spheres["lesion"], background_roi=spheres["background"])


def test_requests_without_the_token_are_refused(demo_study, tmp_path):
    _study, files = demo_study
    with running_server(files, tmp_path / "server") as url:
        port = _URL.search(url).group(1)
        assert _status(url) == 200
        for path in ("/", "/index.html", "/ws", "/reports/report-1/report.html", "/index.html?token=wrong"):
            assert _status(f"http://127.0.0.1:{port}{path}") == 403, path


def test_a_non_loopback_host_needs_consent(capsys):
    from StandardSegLib.cli import main

    assert main(["serve", "--host", "0.0.0.0", "--port", "0"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("standardseg: error: --host 0.0.0.0: not a loopback address") and "--allow-remote" in error


def test_a_reader_walks_the_seven_steps(demo_study, tmp_path):
    from playwright.sync_api import sync_playwright

    from StandardSegLib.demo import DEMO_OPERATOR, DEMO_PROTOCOL_ID, DEMO_REGISTRY_NAME
    from StandardSegLib.mrml.roi_markups import flip_lps_ras
    from StandardSegLib.operators import OperatorRegistry
    from StandardSegLib.session import LesionJob, check_image, lesion_segment

    study, files = demo_study
    liver = study.layout.liver_reference
    OperatorRegistry.open(files.root / DEMO_REGISTRY_NAME).add("Dr Lapsed", dt.date.today() - dt.timedelta(days=400))
    with running_server(files, tmp_path / "server") as url, sync_playwright() as playwright:
        browser = _browser(playwright)
        try:
            reader = Reader(browser.new_page(viewport={"width": 1400, "height": 900}), "walk")
            reader.page.goto(url)
            reader.page.wait_for_selector("#training", timeout=60_000)
            assert "pass" in reader.page.locator("#training").inner_text()
            # 1 study: another protocol (of the PET ones) and operator, then back to the demo's
            reader.click(".v-select:has(#protocol)")
            offered = reader.page.locator(".v-overlay .v-list-item").all_inner_texts()
            assert sorted(text.strip() for text in offered) == sorted(
                protocol_id for protocol_id, document in _protocol_files().items() if document["modality"] == "PT")
            reader.page.keyboard.press("Escape")
            reader.choose("protocol", "pet-nema-iec-phantom")
            reader.choose("operator", "Dr Lapsed (refresher due)")
            reader.click("#btn-restart")
            reader.page.wait_for_function("document.querySelector('#protocol-text').innerText.includes('pet-nema')")
            training = reader.page.locator("#training").inner_text()
            assert training.startswith("Operator: Dr Lapsed - training warn") and "refresher is due" in training
            reader.shot("1-study-other")
            reader.choose("protocol", DEMO_PROTOCOL_ID)
            reader.choose("operator", f"{DEMO_OPERATOR} (trained)")
            reader.click("#btn-restart")
            reader.page.wait_for_function(f"document.querySelector('#protocol-text').innerText.includes('{DEMO_PROTOCOL_ID}')")
            assert "training pass" in reader.page.locator("#training").inner_text()
            reader.shot("1-study")

            # 2 image check: background ROI by a calibration click, then moved onto the liver; lesion ROI on the hottest voxel
            reader.open_step(2)
            hottest = reader.hottest()
            centre = reader.axial_centre()
            reader.click("#btn-place-background")
            offset = (60.0, -40.0)
            reader.click_view(centre[0] + offset[0], centre[1] + offset[1])
            landed = reader.roi("background")
            assert landed[2] == pytest.approx(hottest[2], abs=0.1)  # same axial slice
            mm_per_px = (landed[:2] - hottest[:2]) / np.array(offset)  # signed: screen axes vs R and A
            assert abs(abs(mm_per_px[0]) - abs(mm_per_px[1])) < 0.05 * abs(mm_per_px[0])  # square pixels
            target = np.array(flip_lps_ras(liver.centre_lps_mm))
            reader.click("#btn-place-background")
            reader.click_view(*(np.array(centre) + (target[:2] - hottest[:2]) / mm_per_px))
            background = reader.roi("background", moved_from=landed)
            assert np.linalg.norm(background[:2] - target[:2]) < 3 * abs(mm_per_px[0]) + 2.0
            reader.click("#btn-place-lesion")
            reader.click_view(*centre)
            lesion = reader.roi("lesion")
            assert np.linalg.norm(lesion - hottest) < 3 * abs(mm_per_px[0]) + 2.0
            reader.click("#btn-check")
            reader.idle()
            reader.page.wait_for_selector("#gate-table")
            rows = reader.page.locator("#gate-table tr")
            shown = [(rows.nth(i).locator("td").nth(0).inner_text(), rows.nth(i).locator("td").nth(1).inner_text())
                     for i in range(rows.count())]
            classes = {rows.nth(i).get_attribute("class") for i in range(rows.count())}
            reader.shot("2-check")
            job = _library_job(files, {"lesion": (lesion, 30.0), "background": (background, liver.diameter_mm)})
            expected = check_image(job)
            assert shown == [(item.id, item.verdict) for item in expected.gate.verdict.items]
            assert classes == {f"gate-{verdict}" for _id, verdict in shown}
            assert expected.gate.verdict.allows_segmentation
            reader.click("#btn-override")  # without a reason: the CLI's one-line error, no traceback
            reader.page.wait_for_selector("#error")
            error = reader.page.locator("#error").inner_text()
            assert error.startswith("standardseg: error: gate override: expected a written reason")
            assert "\n" not in error.strip() and "Traceback" not in reader.page.content()

            # 3 display
            reader.open_step(3)
            reader.click("#btn-hold")
            reader.page.wait_for_selector("#preset-held")
            assert "deviations logged: 0" in reader.page.locator("#preset-held").inner_text()
            preset = _protocol_files()[DEMO_PROTOCOL_ID]["window_presets"]["whole-body"]  # lower/upper, in SUVbw
            (_low, _high), (upper_low, upper_high) = preset["lower_range"], preset["upper_range"]
            assert f"upper {upper_low:g}-{upper_high:g} SUVbw" in reader.page.locator("#preset-held").inner_text()
            window = 2.0 * upper_high - preset["lower"]  # the upper bound at twice the allowed maximum: logged
            reader.page.locator("#window-input").fill(f"{window:g}")
            reader.page.locator("#level-input").fill(f"{preset['lower'] + window / 2:g}")
            reader.click("#btn-window-level")
            reader.page.wait_for_function("document.querySelector('#preset-held').innerText.includes('logged: 1')")
            assert _numbers(reader.page.locator("#window-level").inner_text())[:2] == [window, preset["lower"] + window / 2]
            reader.shot("3-display")

            # 4 reference tissue
            reader.open_step(4)
            reference_text = reader.page.locator("#reference-text").inner_text()
            assert reference_text.startswith("liver") and "SUVbw" in reference_text
            assert _numbers(reference_text.split("mean", 1)[1])[0] == pytest.approx(expected.gate.reference.mean, rel=0.01)
            reader.shot("4-reference")

            # 5 segment from a clicked seed
            reader.open_step(5)
            reader.click("#btn-place-seed")
            reader.click_view(centre[0] + 5, centre[1] + 3)  # beside the lesion ROI's handle, inside the sphere
            reader.click("#btn-stop-placing")
            reader.page.wait_for_function("document.querySelector('#seeds').innerText.startsWith('Seeds: 1')",
                                          timeout=10_000)
            seeds_text = reader.page.locator("#seeds").inner_text()
            assert seeds_text.startswith("Seeds: 1"), seeds_text
            seed = np.array(_numbers(seeds_text)[1:4])
            reader.click("#btn-segment")
            reader.idle()
            reader.page.wait_for_selector(".segment-row")
            voxels = int(reader.page.locator(".segment-row .voxels").first.inner_text())
            library = lesion_segment(job, expected, LesionJob(name="lesion-1", seeds=(flip_lps_ras(tuple(seed)),)))
            assert voxels == library.provenance.voxel_count > 0
            flags = reader.page.locator(".segment-row .flags .v-chip").all_inner_texts()
            assert [flag.strip() for flag in flags] == [flag.code for flag in library.provenance.flags]
            reader.shot("5-segment")

            # 6 validate against the generator's truth (all six spheres): Dice recounted with numpy
            reader.open_step(6)
            reader.page.locator("#reference-path").fill(str(files.lesions_pet_nrrd))
            reader.click("#btn-validate")
            reader.idle()
            reader.page.wait_for_selector("#validation-table")
            dice = _numbers(reader.page.locator("#validation-table").inner_text().split("Dice", 1)[1])[0]
            truth = sitk.GetArrayFromImage(sitk.ReadImage(str(files.lesions_pet_nrrd))) != 0
            mine = sitk.GetArrayFromImage(library.mask) != 0
            assert truth.shape == mine.shape
            assert dice == pytest.approx(2 * np.count_nonzero(truth & mine) / (truth.sum() + mine.sum()), abs=0.0006)
            reader.shot("6-validate")

            # 7 report: open report.html, download the bundle
            reader.open_step(7)
            reader.click("#btn-export")
            reader.idle()
            reader.page.wait_for_selector("#bundle-link")
            reader.shot("7-report")
            base = url.split("/index.html")[0]
            report = reader.page.request.get(base + reader.page.locator("#report-link").get_attribute("href"))
            assert report.status == 200 and "<html" in report.text().lower()
            bundle = reader.page.request.get(base + reader.page.locator("#bundle-link").get_attribute("href"))
            assert bundle.status == 200
            archive = zipfile.ZipFile(io.BytesIO(bundle.body()))
            document = json.loads(archive.read("report.json"))
            assert [segment["provenance"]["voxel_count"] for segment in document["segments"]] == [voxels]
            assert {"report.html", "measurements.csv", "session.json"} <= set(archive.namelist())
        finally:
            browser.close()


def test_hottest_spot_of_sts_001_is_in_the_expert_gtv(registry, tmp_path):
    """On a real patient (STS_001, PET over CT) the button lands in the sarcoma, not on the hot structure the
    field of view cuts at the last slice: the RAS the page shows is inside the expert's GTV_Mass_PET."""
    from playwright.sync_api import sync_playwright

    from real_sts import STS, load_case

    case = load_case("STS_001", "PET")
    with running_server(None, tmp_path / "server", STS / "STS_001", "Dr Demo", registry) as url, \
            sync_playwright() as playwright:
        browser = _browser(playwright)
        try:
            reader = Reader(browser.new_page(viewport={"width": 1400, "height": 900}), "sts001")
            reader.page.goto(url)
            reader.page.wait_for_selector("#training", timeout=60_000)
            reader.open_step(2)
            ras = reader.hottest()
            reader.shot("hottest")
        finally:
            browser.close()
    index = case.gtv.TransformPhysicalPointToIndex((-ras[0], -ras[1], ras[2]))
    assert sitk.GetArrayViewFromImage(case.gtv)[index[::-1]]


def test_two_servers_serve_two_readers_independently(demo_study, tmp_path):
    from playwright.sync_api import sync_playwright

    _study, files = demo_study
    with running_server(files, tmp_path / "a") as url_a, running_server(files, tmp_path / "b") as url_b, \
            sync_playwright() as playwright:
        browser = _browser(playwright)
        try:
            readers = []
            for name, url in (("a", url_a), ("b", url_b)):
                reader = Reader(browser.new_context(viewport={"width": 1400, "height": 900}).new_page(), f"two-{name}")
                reader.page.goto(url)
                reader.page.wait_for_selector("#training", timeout=60_000)
                reader.open_step(2)
                readers.append(reader)
            a, b = readers
            a.hottest()
            a.click("#btn-place-background")
            a.click_view(*a.axial_centre())
            placed = a.roi("background")
            b.page.reload()  # the page shows b's server state afresh: still step 2 open, no ROI
            b.page.wait_for_selector("#btn-place-lesion", timeout=60_000)
            assert b.page.locator(".roi").count() == 0
            assert a.roi("background").tolist() == placed.tolist()
            a.shot("a")
            b.shot("b")
            # a's cookie opens a's server only
            port_b = _URL.search(url_b).group(1)
            assert a.page.request.get(f"http://127.0.0.1:{port_b}/index.html").status == 403
        finally:
            browser.close()
