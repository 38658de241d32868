"""Known empty library messages are silenced (slicevlm.console), nothing else is, and SLICEVLM_LIBRARY_NOISE=1 keeps them all."""

from __future__ import annotations

import logging
import subprocess
import sys
import warnings

import pytest

from slicevlm.console import KEEP_NOISE_VARIABLE, quiet_gguf_conversion, silence_known_library_messages

PEFT_WARNING = "`is_gradient_checkpointing` is deprecated and will be removed in v6. Use `is_activation_checkpointing` instead."


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_deepspeed_cpu_message_dropped_other_deepspeed_messages_kept() -> None:
    silence_known_library_messages()
    logger = logging.getLogger("DeepSpeed")
    records = _Records()
    logger.addHandler(records)
    try:
        logger.warning("Setting accelerator to CPU. If you have GPU or other accelerator, we were unable to detect it.")
        logger.warning("ZeRO stage 2 enabled")
    finally:
        logger.removeHandler(records)
    assert records.messages == ["ZeRO stage 2 enabled"]


def test_peft_future_warning_dropped_other_future_warnings_kept() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        silence_known_library_messages()
        warnings.warn(PEFT_WARNING, FutureWarning, stacklevel=1)
        warnings.warn("some other deprecation", FutureWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["some other deprecation"]


def test_deepspeed_import_on_a_cpu_machine_says_nothing() -> None:
    pytest.importorskip("deepspeed")
    code = "import slicevlm, deepspeed.accelerator as a; a.get_accelerator()"
    quiet = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=_env())
    assert "Setting accelerator to CPU" not in quiet.stderr + quiet.stdout
    loud = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=_env(**{KEEP_NOISE_VARIABLE: "1"}))
    if "cuda" not in loud.stderr.lower():  # on a CUDA machine DeepSpeed has nothing to say either way
        assert "Setting accelerator to CPU" in loud.stderr + loud.stdout


def test_gguf_conversion_draws_no_bar_and_the_bar_comes_back_after(tmp_path, capfd) -> None:
    pytest.importorskip("gguf", reason="the GGUF path needs the `small` extra (gguf)")
    from transformers import modeling_gguf_pytorch_utils as gguf_utils

    from slicevlm.llm.language_model import LanguageModel
    from slicevlm.tiny.gguf_file import write_tiny_gguf

    drawn = gguf_utils.tqdm
    write_tiny_gguf(tmp_path / "tiny.gguf")
    capfd.readouterr()
    LanguageModel(str(tmp_path), gguf_file="tiny.gguf", dtype="float32")
    assert "de-quantizing" not in capfd.readouterr().err
    assert gguf_utils.tqdm is drawn
    with quiet_gguf_conversion():
        assert gguf_utils.tqdm is not drawn and gguf_utils.tqdm.keywords == {"disable": True}
    assert gguf_utils.tqdm is drawn


def test_noise_kept_when_asked(monkeypatch) -> None:
    monkeypatch.setenv(KEEP_NOISE_VARIABLE, "1")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        silence_known_library_messages()
        warnings.warn(PEFT_WARNING, FutureWarning, stacklevel=1)
    assert len(caught) == 1
    pytest.importorskip("transformers")
    from transformers import modeling_gguf_pytorch_utils as gguf_utils

    drawn = gguf_utils.tqdm
    with quiet_gguf_conversion():
        assert gguf_utils.tqdm is drawn


def _env(**extra: str) -> dict[str, str]:
    import os

    # DS_ACCELERATOR (the suite's conftest sets it) would skip the detection that logs the message
    env = {key: value for key, value in os.environ.items() if key not in (KEEP_NOISE_VARIABLE, "DS_ACCELERATOR")}
    return {**env, **extra}
