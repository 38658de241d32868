"""Fixtures of the hostile-input suite: a watched host folder with secrets, a tiny checkpoint."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from slicevlm.llm.generation_config import GenerationConfig

sys.path.insert(0, str(Path(__file__).resolve().parent))

import host_watch  # noqa: E402
from hostile import SECRET  # noqa: E402


@dataclass
class Host:
    """Folders of one test: ``secret`` lives in ``host_dir``; only ``data``, ``uploads``, ``work`` may be used.

    Attributes:
        root: The test's temporary folder (watched for new entries too).
        host_dir: Outside every allowed folder; holds ``secret`` (and ``host_dir/inner/secret.bin``).
        secret: A file nothing may ever open.
        data: A data folder (the server's ``--data-dir``, a data root).
        uploads: An upload folder.
        work: Where a test writes its inputs.
        watch: The inotify watch on ``root``, ``host_dir`` and ``host_dir/inner``.
    """

    root: Path
    host_dir: Path
    secret: Path
    data: Path
    uploads: Path
    work: Path
    watch: host_watch.HostWatch

    def assert_untouched(self) -> None:
        """Nothing in the host folder was opened or written, and nothing new appeared beside the
        allowed folders."""
        self.watch.assert_untouched()


@pytest.fixture
def host(tmp_path: Path) -> Host:
    """A host folder with secrets next to the allowed folders, watched from here on."""
    if not host_watch.available():
        pytest.skip("inotify is not available (the hostile-input suite watches the host folder with it)")
    host_dir = tmp_path / "host"
    (host_dir / "inner").mkdir(parents=True)
    secret = host_dir / "secret.bin"
    secret.write_bytes(SECRET)
    (host_dir / "inner" / "secret.bin").write_bytes(SECRET)
    folders = {name: tmp_path / name for name in ("data", "uploads", "work")}
    for folder in folders.values():
        folder.mkdir()
    watch = host_watch.HostWatch([tmp_path, host_dir, host_dir / "inner"], allowed=set(folders))
    yield Host(tmp_path, host_dir, secret, folders["data"], folders["uploads"], folders["work"], watch)
    watch.close()


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_model_factory, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny stage-2 checkpoint folder (LoRA adapter included), input size (32, 64, 64)."""
    from slicevlm.checkpoint import save_checkpoint_folder
    from slicevlm.llm.lora import LoraSettings

    model = tiny_model_factory()
    model.language.add_lora(LoraSettings())
    return save_checkpoint_folder(model, tmp_path_factory.mktemp("hostile") / "ckpt", stage=2, input_size=(32, 64, 64))


@pytest.fixture(scope="session")
def tiny_qa(tiny_checkpoint: Path):
    """The tiny checkpoint loaded for answering (CPU, 4 new tokens)."""
    from slicevlm.inference.predictor import VolumeQA

    return VolumeQA.from_checkpoint(tiny_checkpoint, device="cpu", generation=GenerationConfig(max_new_tokens=4))
