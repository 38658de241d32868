"""LightningCLI for SliceVLM: `lightning-cli fit --config configs/stage2.yaml` (or `slicevlm fit ...`).

The model is `SliceVLMModule` with its vision pipeline and language model given as `class_path`s;
the data is `M3DDataModule`. Every default lives in a class signature and every docstring line
becomes `--help` text; `--print_config` prints the resolved, documented config. The resolved
config is saved beside the logs of every run and copied into the checkpoint folder.

`fit --ckpt_path last` resumes the newest `last` checkpoint of the config's checkpoint callbacks and
is an error when there is none (Lightning itself would warn and start from scratch).

Errors the user can fix print as one `lightning-cli fit: error: ...` message and a non-zero exit
status, without a traceback: the project's own (`slicevlm.errors.SliceVLMError`: a run that refuses
to start, missing weights or data, a bad config value), Lightning's configuration errors, and a
missing optional package (named with the pyproject extra that installs it). Before any model is
built, the trainer settings are checked against the machine: a DeepSpeed strategy needs the
`deepspeed` package, `accelerator: gpu` needs as many CUDA devices as `devices` asks for.
`--debug` (anywhere before a `--`) or `SLICEVLM_DEBUG=1` adds the traceback.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path
from typing import Any

from lightning.pytorch.cli import LightningCLI

from slicevlm.errors import EXTRAS, ConfigError, MissingDependencyError, SliceVLMError, install_hint, report, take_debug_flag


class SliceVLMCLI(LightningCLI):
    """LightningCLI with SliceVLM's model (or one a config names by `model.class_path`) and data module."""

    def add_arguments_to_parser(self, parser) -> None:  # noqa: D401 - Lightning hook
        parser.set_defaults({"trainer.log_every_n_steps": 10})

    def before_instantiate_classes(self) -> None:
        """Refuse trainer settings this machine cannot run before the (large) models are built."""
        check_trainer_fits_machine(self.config[self.subcommand]["trainer"] if self.subcommand else self.config["trainer"])

    def before_fit(self) -> None:
        """Resolve `--ckpt_path last` to a file, or stop: asking to resume with nothing to resume is an error."""
        from slicevlm.callbacks.checkpointing import find_last_checkpoint

        config = self.config_init[self.subcommand]
        if config.get("ckpt_path") == "last":
            config["ckpt_path"] = find_last_checkpoint(self.trainer)


def _class_path(value: object) -> str:
    """The class path (or plain string) a strategy/accelerator config value names, lower-cased."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.lower()
    class_path = value.get("class_path") if hasattr(value, "get") else None
    return str(class_path or type(value).__name__).lower()


def check_trainer_fits_machine(trainer: dict) -> None:
    """Raise a `SliceVLMError` when the trainer config needs a package or GPUs this machine lacks.

    Args:
        trainer: the `trainer` section of the parsed config (a jsonargparse Namespace or dict).
    """
    import importlib.util

    import torch

    if "deepspeed" in _class_path(trainer.get("strategy")) and importlib.util.find_spec("deepspeed") is None:
        raise MissingDependencyError(
            "trainer.strategy is DeepSpeed, which needs the `deepspeed` package: " + install_hint("deepspeed")
            + " (GPU machines; `make install-gpu` does it). On one GPU without DeepSpeed, add "
            "`--config configs/single_gpu/stage1.yaml` (or stage2.yaml), which trains with plain bf16."
        )
    accelerator, devices = _class_path(trainer.get("accelerator")), trainer.get("devices")
    if accelerator not in ("gpu", "cuda"):
        return
    available = torch.cuda.device_count()
    wanted = int(devices) if isinstance(devices, int) or (isinstance(devices, str) and devices.isdigit()) else None
    wanted = len(devices) if isinstance(devices, (list, tuple)) else wanted
    if available == 0 or (wanted is not None and wanted > available):
        raise ConfigError(
            f"trainer.accelerator={accelerator!r} with trainer.devices={devices!r}, but this machine has "
            f"{available} CUDA GPU(s). On one GPU add `--config configs/single_gpu/stage1.yaml` (or stage2.yaml) "
            "after the stage config, or set --trainer.devices; the CPU twin is `--config configs/demo.yaml`."
        )


def _config_files(argv: list[str]) -> list[str]:
    """The files given with `--config FILE` / `--config=FILE`, in order."""
    files = []
    for i, arg in enumerate(argv):
        if arg == "--config" and i + 1 < len(argv):
            files.append(argv[i + 1])
        elif arg.startswith("--config="):
            files.append(arg.split("=", 1)[1])
    return files


def names_its_model_class(argv: list[str]) -> bool:
    """Whether a config file in `argv` gives `model.class_path` (another LightningModule than SliceVLM's,
    e.g. the contrastive pre-training of configs/baselines/med3dvlm_clip.yaml)."""
    import yaml

    for name in _config_files(argv):
        try:
            content = yaml.safe_load(Path(name).read_text(encoding="utf-8"))  # LightningCLI parses it again below
        except (OSError, yaml.YAMLError):
            continue  # LightningCLI reports an unreadable config with its own message
        model = content.get("model") if isinstance(content, dict) else None
        if isinstance(model, dict) and "class_path" in model:
            return True
    return False


def merged_config(config_files: list[str | Path], overrides: list[str] | None = None) -> dict[str, Any]:
    """The configuration `lightning-cli fit --config A --config B ... OVERRIDES` would run with, as plain data.

    The files are merged by LightningCLI's own parser (later files win; a section that names another
    `class_path` replaces the old section whole) and every default is filled in; no class is built.
    For tools that read a run's settings without running it (the benchmarks, the synthetic twin).
    """
    import yaml

    argv = [arg for name in config_files for arg in ("--config", str(name))] + list(overrides or [])

    class ParseOnly(SliceVLMCLI):
        def _set_seed(self) -> None:  # nothing runs: leave the global random state alone
            pass

        def before_instantiate_classes(self) -> None:  # nothing runs, so the machine need not fit the trainer
            pass

        def instantiate_classes(self) -> None:
            pass

    from slicevlm.data.datamodule import M3DDataModule
    from slicevlm.training.module import SliceVLMModule

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="LightningCLI's args parameter is intended")
        cli = ParseOnly(
            None if names_its_model_class(argv) else SliceVLMModule, M3DDataModule, args=argv, run=False,
            save_config_callback=None, auto_configure_optimizers=False,
        )
    return yaml.safe_load(cli.parser.dump(cli.config, skip_none=False, skip_check=True))


def run_lightning_cli(argv: list[str] | None = None, datamodule_class: type | None = None) -> SliceVLMCLI:
    """Run LightningCLI on `argv` (e.g. ["fit", "--config", "configs/demo.yaml"]); None reads sys.argv.

    The model is `SliceVLMModule` (its arguments directly under `model:`), unless a config names
    another LightningModule by `model.class_path`. `datamodule_class` replaces `M3DDataModule` (a
    subclass serving another data set; its init arguments are the `data:` section of the config).
    """
    from slicevlm.data.datamodule import M3DDataModule
    from slicevlm.training.module import SliceVLMModule

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # Called from Python (reproduce, tests) with explicit args: Lightning's "args and sys.argv" warning is noise.
    warnings.filterwarnings("ignore", message="LightningCLI's args parameter is intended")
    other_model = names_its_model_class(list(sys.argv[1:] if argv is None else argv))
    return SliceVLMCLI(
        None if other_model else SliceVLMModule,
        datamodule_class or M3DDataModule,
        args=None if argv is None or argv == sys.argv[1:] else argv,
        save_config_kwargs={"overwrite": True},
        auto_configure_optimizers=False,
    )


def _as_user_error(error: BaseException) -> BaseException | None:
    """`error` when it is the user's to fix (or its translation, for a missing optional package), else None."""
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    if isinstance(error, (SliceVLMError, MisconfigurationException)):
        return error
    if isinstance(error, ModuleNotFoundError) and (error.name or "").split(".")[0] in EXTRAS:
        translated = MissingDependencyError(f"`{error.name}` is not installed: {install_hint(error.name)}.")
        translated.__cause__, translated.__traceback__ = error, error.__traceback__
        return translated
    return None


def run_reporting_errors(argv: list[str] | None = None, prog: str = "lightning-cli", debug: bool | None = None) -> int:
    """`run_lightning_cli`, with a user error printed as `prog SUBCOMMAND: error: ...` and turned into an exit status.

    Args:
        argv: the command line after the program name; None reads sys.argv.
        prog: the program name for messages.
        debug: print tracebacks of user errors too; None: `--debug` in argv or `SLICEVLM_DEBUG`.
    """
    argv, flag = take_debug_flag(list(sys.argv[1:] if argv is None else argv))
    debug = flag or debug
    try:
        run_lightning_cli(argv)
    except Exception as error:  # noqa: BLE001 - user errors become one message, the rest re-raise
        user_error = _as_user_error(error)
        if user_error is None:
            raise
        return report(" ".join([prog, *argv[:1]]), user_error, debug)
    return 0


def lightning_cli_main() -> int:
    """Console script `lightning-cli`."""
    return run_reporting_errors()
