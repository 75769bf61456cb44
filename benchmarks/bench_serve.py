"""Benchmark: the browser panel (``standardseg serve``) on the demo study and on a real patient (STS_001, FDG PET
over CT, ``Testing/Data/real/sts``). Issue 18's targets: click -> visible feedback <= 0.5 s, <= 1 GiB per reader.

Measured per study, in one run:

- server start: process start until the URL is printed (study loaded, page built); baseline: the same study
  opened headless in this process (``MRMLContext.headless`` + ``GuidedSession.load_image``), so the ratio is
  what the web layer (trame-slicer, views, server) adds;
- first frame: page requested until the axial view's first image is drawn;
- click -> feedback: mouse released in the axial view (place background ROI) until the page shows the ROI's
  new position, and until the axial view shows a new frame (the point drawn; median and worst of 5 clicks),
  "aimed" (the mouse rested 1 s on the target, as a reader's does) and "moved" (moved and clicked at once);
- loop during work: while the image check runs in its worker thread, the longest wait for an HTTP answer
  from the server's event loop (it must not freeze for > 0.5 s);
- peak memory: the server process's peak resident set (``VmHWM``) after the check, against 1 GiB.

Run: ``.venv/bin/python benchmarks/bench_serve.py`` (needs Chromium: /usr/bin/chromium or STANDARDSEG_CHROMIUM).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STS_001 = ROOT / "Testing" / "Data" / "real" / "sts" / "STS_001"
CLICKS = 5
#: How long the mouse rests on the target before an "aimed" click (a reader aims; a "moved" click does not).
AIM_MS = 1000
TARGET_CLICK_S = 0.5
TARGET_MEMORY_GIB = 1.0
OPERATOR = "Bench Reader"


def main() -> None:
    from StandardSegLib.demo import DEMO_OPERATOR, DEMO_PROTOCOL_ID, DEMO_REGISTRY_NAME, write_demo_registry
    from StandardSegLib.operators import OperatorRegistry
    from StandardSegLib.phantom import generate_study, write_study

    chromium = os.environ.get("STANDARDSEG_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        raise SystemExit("bench_serve: no Chromium (apt-get install chromium, or set STANDARDSEG_CHROMIUM)")
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as work:
        work = Path(work)
        files = write_study(generate_study(), work / "demo")
        write_demo_registry(files.root)
        registry = work / "operators.json"
        OperatorRegistry.open(registry).add(OPERATOR, dt.date.today() - dt.timedelta(days=10))
        studies = (("demo", files.root, DEMO_PROTOCOL_ID, DEMO_OPERATOR, files.root / DEMO_REGISTRY_NAME),
                   ("STS_001", STS_001, DEMO_PROTOCOL_ID, OPERATOR, registry))
        for name, study, protocol, operator, operators in studies:
            bench_study(name, study, protocol, operator, operators, work / name, chromium)


def bench_study(name: str, study: Path, protocol: str, operator: str, registry: Path, out: Path,
                chromium: str) -> None:
    from playwright.sync_api import sync_playwright

    from StandardSegWeb.launcher import served

    baseline = headless_open_s(study, protocol, operator, registry)
    arguments = [str(study), "--protocol", protocol, "--operator", operator, "--registry", str(registry),
                 "--out", str(out), "--port", "0"]
    started = time.perf_counter()
    with served(arguments, out / "server.log") as panel, sync_playwright() as playwright:
        start_s = time.perf_counter() - started
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            requested = time.perf_counter()
            page.goto(panel.url)
            page.wait_for_function("(() => { const i = document.querySelector('#views img');"
                                   " return i && i.complete && i.naturalWidth > 0; })()", timeout=120_000)
            first_frame_s = time.perf_counter() - requested
            page.locator("#step-2 .v-expansion-panel-title").click()
            page.locator("#btn-hottest").click()
            page.wait_for_selector("#hottest")
            box = page.locator("#views img").first.bounding_box()
            clicks: dict[str, list[float]] = {"aimed": [], "moved": []}
            redrawn: dict[str, list[float]] = {"aimed": [], "moved": []}
            for index in range(2 * CLICKS):
                kind = "aimed" if index % 2 == 0 else "moved"
                page.locator("#btn-place-background").click()
                before = page.locator(".roi").all_inner_texts()
                frame = page.evaluate("() => document.querySelector('#views img').src")
                page.mouse.move(box["x"] + box["width"] * (0.3 + 0.04 * index), box["y"] + box["height"] * 0.45)
                if kind == "aimed":
                    page.wait_for_timeout(AIM_MS)  # a reader aims before clicking: the move's render is done
                page.mouse.down()
                page.mouse.up()
                released = time.perf_counter()
                page.wait_for_function("(before) => JSON.stringify(Array.from(document.querySelectorAll('.roi'))"
                                       ".map(e => e.innerText)) !== JSON.stringify(before)", arg=before, timeout=10_000)
                clicks[kind].append(time.perf_counter() - released)
                page.wait_for_function("(frame) => document.querySelector('#views img').src !== frame", arg=frame,
                                       timeout=10_000)
                redrawn[kind].append(time.perf_counter() - released)
            page.locator("#btn-place-lesion").click()
            page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            page.mouse.down()
            page.mouse.up()
            page.wait_for_selector(".roi >> text=lesion:")
            page.locator("#btn-check").click()
            waits = []
            while True:  # requests to the server's event loop while the check runs in the worker thread
                asked = time.perf_counter()
                page.request.get(f"{panel.base}/index.html")
                waits.append(time.perf_counter() - asked)
                busy = page.evaluate("() => !!document.querySelector('#busy')")
                if not busy and len(waits) > 1:
                    break
                page.wait_for_timeout(50)
            page.wait_for_selector("#gate-overall, #error", timeout=120_000)
            gate = page.locator("#gate-overall, #error").first.inner_text()
        finally:
            browser.close()
        peak_gib = peak_resident_gib(panel.process.pid)
    print(f"{name}: server start {start_s:.1f} s (headless open of the same study {baseline:.1f} s, "
          f"ratio {start_s / baseline:.1f}x); first frame {first_frame_s:.2f} s")
    for kind, times in clicks.items():
        print(f"{name}: click -> feedback ({kind}) median {statistics.median(times):.3f} s, worst {max(times):.3f} s "
              f"(target {TARGET_CLICK_S} s: median {statistics.median(times) / TARGET_CLICK_S:.2f}x of it); "
              f"view redrawn median {statistics.median(redrawn[kind]):.3f} s, worst {max(redrawn[kind]):.3f} s")
    print(f"{name}: server answer during the check: worst {max(waits):.3f} s over {len(waits)} ({gate})")
    print(f"{name}: server peak memory {peak_gib:.2f} GiB ({peak_gib / TARGET_MEMORY_GIB:.2f}x of the 1 GiB target)")


def headless_open_s(study: Path, protocol: str, operator: str, registry: Path) -> float:
    """Baseline: the study opened by the library's session on a headless scene, without the web layer."""
    from StandardSegLib.mrml.guided_session import GuidedSession
    from StandardSegLib.mrml.scene import MRMLContext
    from StandardSegWeb.panel import StudyInputs

    started = time.perf_counter()
    context = MRMLContext.headless()
    inputs = StudyInputs.from_folder(study)
    session = GuidedSession.start(context, protocol, operator, registry=str(registry))
    session.load_image(inputs.image)
    if inputs.anatomy is not None:
        context.load_volume(next(path for path in sorted(inputs.anatomy.iterdir()) if path.is_file()))
    elapsed = time.perf_counter() - started
    context.scene.Clear(True)
    return elapsed


def peak_resident_gib(pid: int) -> float:
    """``VmHWM`` (peak resident set) of a live process, Linux /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 2 ** 20
    raise RuntimeError(f"no VmHWM for process {pid}")


if __name__ == "__main__":
    main()
