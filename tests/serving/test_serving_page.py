"""The web page in headless Chromium: upload a NIfTI, scroll the viewer, ask, see the answer.

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
sys.path.insert(0, str(REPO / "lightning_app"))

from server_process import ServerProcess  # noqa: E402

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
            assert "kept" in page.locator("#slice-label").inner_text()  # opens on the first kept slice
            page.locator("#slider").fill("3")
            assert page.locator("#slice-label").inner_text().startswith("slice 4 / 32")
            page.fill("#question", "Which organ shows the lesion?")
            page.fill("#choices", "liver, spleen, kidney, pancreas")
            page.click("#ask")
            page.wait_for_function("document.getElementById('answer').textContent.length > 0", timeout=30_000)
            assert page.locator("#status").inner_text().startswith("Answered in")
            assert "server total" in page.locator("#timing").inner_text()
            shot = tmp_path / "page.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert shot.stat().st_size > 10_000
    if os.environ.get("SLICEVLM_REFRESH_SCREENSHOT") == "1":
        shutil.copyfile(shot, REPO / "docs" / "screenshot.png")
