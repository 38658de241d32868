"""Progress lines and the library-noise filter of long commands (`slicevlm.console`)."""

from __future__ import annotations

import io
import logging
import warnings

from slicevlm.console import Progress, library_noise


def _warn_from(module: str, message: str, category: type[Warning] = UserWarning) -> None:
    """Issue a warning as if `module` had raised it."""
    warnings.warn_explicit(message, category, filename=f"{module.replace('.', '/')}.py", lineno=1, module=module)


def test_progress_lines_name_the_command_and_the_elapsed_time() -> None:
    stream = io.StringIO()
    progress = Progress("reproduce", stream)
    progress("stage 1: training")
    assert stream.getvalue().startswith("reproduce [") and stream.getvalue().endswith("s] stage 1: training\n")


def test_library_warnings_and_info_logs_are_hidden_and_ours_are_not() -> None:
    from lightning.pytorch.utilities.warnings import PossibleUserWarning

    lightning_logger = logging.getLogger("lightning.pytorch")
    before = lightning_logger.level
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with library_noise(verbose=False):
            assert not lightning_logger.isEnabledFor(logging.INFO)  # "GPU available", "💡 Tip", "Seed set"
            assert lightning_logger.isEnabledFor(logging.WARNING)
            _warn_from("lightning.pytorch.trainer.connectors.data_connector", "consider increasing num_workers",
                       PossibleUserWarning)
            _warn_from("transformers.modeling_utils", "`is_gradient_checkpointing` is deprecated", FutureWarning)
            _warn_from("slicevlm.llm.language_model", "the tokenizer is a stand-in")
            _warn_from("__main__", "raised somewhere", PossibleUserWarning)
        _warn_from("lightning.pytorch.loops.fit_loop", "after the block")
    assert [str(w.message) for w in seen] == ["the tokenizer is a stand-in", "after the block"]
    assert lightning_logger.level == before


def test_verbose_shows_everything() -> None:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with library_noise(verbose=True):
            assert logging.getLogger("lightning.pytorch").isEnabledFor(logging.INFO)
            _warn_from("lightning.pytorch.loops.fit_loop", "Found 62 module(s) in eval mode")
    assert [str(w.message) for w in seen] == ["Found 62 module(s) in eval mode"]
