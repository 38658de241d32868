"""The web page in headless Chromium: upload a NIfTI, scroll the viewer, ask, see the answer; the
research-use notice, toy and small-model labels, the window control, and the choice a closed answer names.

Needs Debian's chromium (`apt-get install -y chromium`) and the playwright Python package; skipped
with that reason where /usr/bin/chromium is absent. Saves a screenshot under the test's tmp folder;
with SLICEVLM_REFRESH_SCREENSHOT=1 it also refreshes docs/screenshot.png for the README (a plain
test run leaves the working tree clean).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]

from slicevlm.serve.server_process import ServerProcess

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian chromium at /usr/bin/chromium (apt-get install -y chromium)"),
]


@pytest.fixture(scope="module")
def nifti(tmp_path_factory) -> Path:
    """An abdomen-like phantom: an ellipse with a dark 'lesion' that grows along z."""
    import nibabel as nib

    d, h, w = 24, 96, 96
    z, y, x = np.meshgrid(np.linspace(-1, 1, d), np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")
    volume = np.where((y / 0.7) ** 2 + (x / 0.9) ** 2 < 1, 0.6, 0.05).astype(np.float32)
    volume[((y - 0.1) ** 2 + (x + 0.3) ** 2) < 0.04 * (1 + z)] = 0.25
    volume += np.random.default_rng(0).normal(0, 0.02, volume.shape).astype(np.float32)
    path = tmp_path_factory.mktemp("page") / "abdomen.nii.gz"
    nib.save(nib.Nifti1Image(np.ascontiguousarray(volume.transpose(2, 1, 0)), np.diag([0.8, 0.8, 2.5, 1])), str(path))
    return path


@pytest.fixture(scope="module")
def server(tiny_model_factory, tmp_path_factory):
    from slicevlm.checkpoint import save_checkpoint_folder

    folder = tmp_path_factory.mktemp("page-server")
    checkpoint = save_checkpoint_folder(tiny_model_factory(), folder / "ckpt", stage=1, input_size=(32, 64, 64))
    with ServerProcess(["--checkpoint", checkpoint, "--max-new-tokens", "12", "--log-level", "warning"], log_path=folder / "server.log") as process:
        yield process


@pytest.fixture(scope="module")
def hu_nifti(tmp_path_factory) -> Path:
    """A CT-like NIfTI in HU: air -1000, soft tissue 40, a bone rod 1000."""
    import nibabel as nib

    volume = np.full((20, 64, 64), -1000.0, dtype=np.float32)
    volume[:, 12:52, 12:52] = 40.0
    volume[:, 28:36, 28:36] = 1000.0
    path = tmp_path_factory.mktemp("page-hu") / "ct_hu.nii.gz"
    nib.save(nib.Nifti1Image(np.ascontiguousarray(volume.transpose(2, 1, 0)), np.diag([0.8, 0.8, 2.5, 1])), str(path))
    return path


def _wait_for(page, expression: str, timeout: int) -> None:
    """Poll ``expression`` until it is truthy. Not ``page.wait_for_function``: that evaluates its
    predicate with ``eval`` inside the page, which the page's Content-Security-Policy forbids."""
    import time

    deadline = time.monotonic() + timeout / 1000
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise TimeoutError(f"not true after {timeout} ms: {expression}")
        time.sleep(0.1)


def _open(browser, server):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(server.url + "/")
    _wait_for(page, "document.getElementById('default-recipe').textContent.length > 0", timeout=10_000)
    return page


def test_notice_toy_label_and_window_control(server, hu_nifti):
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            page = _open(browser, server)
            assert page.locator("#notice").is_visible()
            assert "not for clinical decisions" in page.locator("#notice").inner_text()
            assert page.locator("#toy").is_visible() and "TOY MODEL" in page.locator("#toy").inner_text()
            assert page.locator("#small").is_visible() and "SMALL MODEL" in page.locator("#small").inner_text()  # the tiny LLM is small
            assert "no window" in page.locator("#default-recipe").inner_text()
            page.set_input_files("#file", str(hu_nifti))
            page.wait_for_selector("#viewer", state="visible", timeout=30_000)
            assert "raw HU" in page.locator("#warnings").inner_text()
            assert "window: none (min-max only)" in page.locator("#applied").inner_text()
            page.select_option("#window", "abdomen")  # re-reads the volume with the preset
            _wait_for(page, "document.getElementById('applied').textContent.includes('abdomen 40/400 HU')", timeout=30_000)
            assert page.locator("#warnings").inner_text() == ""
            page.select_option("#window", "custom")
            assert page.locator("#window-center").is_visible()
            page.fill("#window-center", "-600")
            page.fill("#window-width", "1500")
            page.locator("#window-width").dispatch_event("change")
            _wait_for(page, "document.getElementById('applied').textContent.includes('-600/1500 HU')", timeout=30_000)
            assert "reorientation: RAS -> LPS" in page.locator("#applied").inner_text()
            assert "spacing: 2.5×0.8×0.8 mm" in page.locator("#applied").inner_text()
            page.select_option("#reorient", "none")  # the file's stored voxel order, echoed back
            _wait_for(page, "document.getElementById('applied').textContent.includes('reorientation: none (asked)')", timeout=30_000)
            assert "stored voxel order (RAS)" in page.locator("#applied").inner_text()
        finally:
            browser.close()


def test_a_small_model_that_is_no_toy_shows_the_small_label_only(server):
    """The page reads the labels from /info: here what a real 135 M LLM beside a real encoder records."""
    import json

    import requests

    from slicevlm.toy import labels

    playwright = pytest.importorskip("playwright.sync_api")
    info = requests.get(server.url + "/info", timeout=5).json()
    info["model"].update(labels(False, True))
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.route("**/info", lambda route, _request: route.fulfill(body=json.dumps(info), content_type="application/json"))
            page.goto(server.url + "/")
            _wait_for(page, "document.getElementById('default-recipe').textContent.length > 0", timeout=10_000)
            assert not page.locator("#toy").is_visible()
            assert page.locator("#small").is_visible()
            assert page.locator("#small").inner_text().startswith("SMALL MODEL — small model: its language model is far smaller")
        finally:
            browser.close()


def test_closed_answer_shows_the_choice_or_says_there_is_none(server, nifti):
    from slicevlm.inference.choices import match_choice

    playwright = pytest.importorskip("playwright.sync_api")
    choices = ["liver", "spleen", "kidney", "pancreas"]
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            page = _open(browser, server)
            page.set_input_files("#file", str(nifti))
            page.wait_for_selector("#viewer", state="visible", timeout=30_000)
            page.fill("#question", "Which organ shows the lesion?")
            page.fill("#choices", ", ".join(choices))
            page.click("#ask")
            _wait_for(page, "document.getElementById('choice').textContent.length > 0", timeout=30_000)
            expected = match_choice(page.locator("#answer").inner_text(), choices)  # the page shows the raw generation
            shown = page.locator("#choice").inner_text()
            if expected.letter is None:
                assert shown.startswith("No choice: the model named no choice")
            else:
                assert shown.startswith(f"Choice: {expected.letter}. {expected.text}")
            # both branches, whatever the tiny model wrote: the server's answer replaced by one of each kind
            for generation in ("C. kidney, enlarged", "perhaps the liver or the spleen"):
                match = match_choice(generation, choices)
                body = {"task": "ask", "answer": generation, **match.to_dict(), "kept_slices": [], "kept_slices_original": [],
                        "timings_ms": {}, "batch_size": 1, "preprocessing": {}, "warnings": [], "toy": True}
                page.route("**/predict", lambda route, _request, body=body: route.fulfill(json=body))
                page.click("#ask")
                _wait_for(page, f"document.getElementById('answer').textContent === {generation!r}", timeout=10_000)
                page.unroute("**/predict")
                shown = page.locator("#choice").inner_text()
                if match.letter:
                    assert shown.startswith("Choice: C. kidney (letter named")
                else:
                    assert shown.startswith("No choice: the model named no choice") and "several choices" in shown
        finally:
            browser.close()


def test_upload_view_ask_and_screenshot(server, nifti, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page.goto(server.url + "/")
            assert "resampled to 32×64×64" in page.locator("#formats").inner_text(timeout=10_000)
            page.set_input_files("#file", str(nifti))
            page.wait_for_selector("#viewer", state="visible", timeout=30_000)
            assert page.locator("#strip > div").count() == 32
            assert page.locator("#strip > div.kept").count() == 8
            label = page.locator("#slice-label").inner_text()
            assert "kept" in label  # opens on the first kept slice
            # the label numbers slices from 0, as the kept list beside it does
            first_kept = page.locator("#kept-summary").inner_text().split(": ", 1)[1].split(", ")[0]
            assert label.startswith(f"slice {first_kept} of 0–31"), (label, first_kept)
            page.locator("#slider").fill("3")
            assert page.locator("#slice-label").inner_text().startswith("slice 3 of 0–31")
            page.fill("#question", "Which organ shows the lesion?")
            page.fill("#choices", "liver, spleen, kidney, pancreas")
            page.click("#ask")
            _wait_for(page, "document.getElementById('answer').textContent.length > 0", timeout=30_000)
            assert page.locator("#status").inner_text().startswith("Answered in")
            assert "server total" in page.locator("#timing").inner_text()
            shot = tmp_path / "page.png"
            page.screenshot(path=str(shot), full_page=True)
            # a refused upload leaves no trace of the previous volume's preprocessing
            assert page.locator("#applied").inner_text().startswith("Preprocessing applied")
            broken = tmp_path / "broken.nii.gz"
            broken.write_bytes(b"not a volume")
            page.set_input_files("#file", str(broken))
            _wait_for(page, "document.getElementById('status').className === 'error'", timeout=30_000)
            assert page.locator("#applied").inner_text() == ""
        finally:
            browser.close()
    assert shot.stat().st_size > 10_000
    if os.environ.get("SLICEVLM_REFRESH_SCREENSHOT") == "1":
        shutil.copyfile(shot, REPO / "docs" / "screenshot.png")


def test_the_page_works_under_its_content_security_policy(server, nifti):
    """Upload, view and ask with the server's CSP in force: no violation is reported (neither a
    ``securitypolicyviolation`` event nor a console message), and the policy really is enforced."""
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            console: list[str] = []
            page.on("console", lambda message: console.append(message.text))
            page.add_init_script(
                "window.__violations = [];"
                "document.addEventListener('securitypolicyviolation', e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));"
            )
            response = page.goto(server.url + "/")
            assert "script-src 'sha256-" in response.headers["content-security-policy"]
            _wait_for(page, "document.getElementById('default-recipe').textContent.length > 0", timeout=10_000)
            page.set_input_files("#file", str(nifti))
            page.wait_for_selector("#viewer", state="visible", timeout=30_000)
            page.fill("#question", "Which organ shows the lesion?")
            page.click("#ask")
            _wait_for(page, "document.getElementById('answer').textContent.length > 0", timeout=30_000)
            assert page.evaluate("window.__violations") == []
            assert not [text for text in console if "Content Security Policy" in text], console
            page.evaluate("(() => { const s = document.createElement('script'); s.textContent = 'window.__injected = 1'; document.body.appendChild(s); })()")
            assert page.evaluate("window.__injected") is None, "an injected inline script ran: the CSP is not enforced"
            assert page.evaluate("window.__violations.length") >= 1
        finally:
            browser.close()
