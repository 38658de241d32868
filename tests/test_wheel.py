"""The wheel carries everything the package reads at run time, and works outside the checkout.

Builds the wheel from a clean copy of the checkout (no network: the installed setuptools, no build
isolation), checks its file list against the checkout's configs, assets and server page, installs
it with ``--no-deps --target`` (its dependencies come from this environment) and, from an empty
folder outside the checkout, runs ``python -m slicevlm serve --help`` and reads a shipped config
through importlib.resources.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "slicevlm"
#: What is never part of a build, whatever a checkout holds.
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "runs", ".cache", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache")


def _data_files(folder: str, pattern: str) -> set[str]:
    """Wheel names (``slicevlm/...``) of the checkout's files under ``src/slicevlm/<folder>``."""
    return {f"slicevlm/{p.relative_to(PACKAGE).as_posix()}" for p in (PACKAGE / folder).rglob(pattern) if p.is_file()}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from a copy of the checkout (a stale ``build/`` folder cannot leak into it)."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    shutil.copytree(REPO, source, symlinks=True, ignore=NOT_SOURCE)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w", str(root / "dist"), str(source)],
        check=True, timeout=300, capture_output=True,
    )
    (built,) = (root / "dist").glob("slicevlm-*.whl")
    return built


def test_the_wheel_holds_configs_assets_the_page_and_the_server(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    configs, assets = _data_files("configs", "*.yaml"), _data_files("assets", "*")
    assert {"slicevlm/configs/stage2.yaml", "slicevlm/configs/demo.yaml", "slicevlm/configs/ablations/spatial_only.yaml"} <= configs
    assert any(name.startswith("slicevlm/assets/encoders/") for name in assets)
    assert any(name.startswith("slicevlm/assets/llms/") for name in assets)
    assert configs <= names, sorted(configs - names)
    assert assets <= names, sorted(assets - names)
    assert {"slicevlm/serve/static/index.html", "slicevlm/serve/__init__.py", "slicevlm/serve/server.py",
            "slicevlm/serve/volume_api.py", "slicevlm/shipped_configs.py"} <= names
    sources = {f"slicevlm/{p.relative_to(PACKAGE).as_posix()}" for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts}
    assert sources <= names, sorted(sources - names)
    entry_points = next(zipfile.Path(wheel, name) for name in names if name.endswith("entry_points.txt")).read_text()
    assert "slicevlm = slicevlm.__main__:main" in entry_points


def test_the_installed_wheel_serves_help_and_reads_configs_outside_the_checkout(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target", str(site), str(wheel)],
                   check=True, timeout=300, capture_output=True)
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1"}  # not the checkout's src/
    check = (
        "import sys\n"
        "from importlib.resources import files\n"
        "import slicevlm\n"
        f"assert slicevlm.__file__.startswith({str(site)!r}), slicevlm.__file__\n"
        "from slicevlm.shipped_configs import config_path\n"
        "demo = config_path('demo.yaml')\n"
        f"assert str(demo).startswith({str(site)!r}) and 'runs/demo/data' in demo.read_text(encoding='utf-8'), demo\n"
        "assert config_path('ablations/no_injection.yaml').is_file()\n"
        "assert 'SliceVLM' in (files('slicevlm.serve') / 'static' / 'index.html').read_text(encoding='utf-8')\n"
        "assert any(p.name.endswith('.json') for p in (files('slicevlm') / 'assets' / 'llms').iterdir())\n"
        "print('ok')\n"
    )
    read = subprocess.run([sys.executable, "-c", check], cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert read.returncode == 0 and read.stdout.strip() == "ok", read.stderr
    help_text = subprocess.run([sys.executable, "-m", "slicevlm", "serve", "--help"], cwd=work, env=env, capture_output=True,
                               text=True, timeout=300)
    assert help_text.returncode == 0, help_text.stderr
    assert help_text.stdout.startswith("usage: slicevlm serve") and "--checkpoint" in help_text.stdout and "--reorient" in help_text.stdout
    shown = subprocess.run([sys.executable, "-m", "slicevlm", "configs", "demo.yaml"], cwd=work, env=env, capture_output=True,
                           text=True, timeout=120)
    assert shown.returncode == 0 and Path(shown.stdout.strip()) == site / "slicevlm" / "configs" / "demo.yaml", shown.stderr
    assert not any(work.iterdir())  # nothing written into the user's folder
