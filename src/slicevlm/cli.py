"""LightningCLI for SliceVLM: `lightning-cli fit --config configs/stage2.yaml` (or `slicevlm fit ...`).

The model is `SliceVLMModule` with its vision pipeline and language model given as `class_path`s;
the data is `M3DDataModule`. Every default lives in a class signature and every docstring line
becomes `--help` text; `--print_config` prints the resolved, documented config. The resolved
config is saved beside the logs of every run and copied into the checkpoint folder.

`fit --ckpt_path last` resumes the newest `last` checkpoint of the config's checkpoint callbacks and
is an error when there is none (Lightning itself would warn and start from scratch). A run that
refuses to start or stops on purpose (`training.errors.RunError`) prints its message and exits with
a non-zero status, without a traceback.
"""

from __future__ import annotations

import os
import sys
import warnings

from lightning.pytorch.cli import LightningCLI


class SliceVLMCLI(LightningCLI):
    """LightningCLI with SliceVLM's model and data module fixed."""

    def add_arguments_to_parser(self, parser) -> None:  # noqa: D401 - Lightning hook
        parser.set_defaults({"trainer.log_every_n_steps": 10})

    def before_fit(self) -> None:
        """Resolve `--ckpt_path last` to a file, or stop: asking to resume with nothing to resume is an error."""
        from slicevlm.callbacks.checkpointing import find_last_checkpoint

        config = self.config_init[self.subcommand]
        if config.get("ckpt_path") == "last":
            config["ckpt_path"] = find_last_checkpoint(self.trainer)


def run_lightning_cli(argv: list[str] | None = None) -> SliceVLMCLI:
    """Run LightningCLI on `argv` (e.g. ["fit", "--config", "configs/demo.yaml"]); None reads sys.argv."""
    from slicevlm.data.datamodule import M3DDataModule
    from slicevlm.training.module import SliceVLMModule

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # Called from Python (reproduce, tests) with explicit args: Lightning's "args and sys.argv" warning is noise.
    warnings.filterwarnings("ignore", message="LightningCLI's args parameter is intended")
    return SliceVLMCLI(
        SliceVLMModule,
        M3DDataModule,
        args=None if argv is None or argv == sys.argv[1:] else argv,
        save_config_kwargs={"overwrite": True},
        auto_configure_optimizers=False,
    )


def run_reporting_errors(argv: list[str] | None = None, prog: str = "lightning-cli") -> int:
    """`run_lightning_cli`, with a `RunError` printed as `prog: error: ...` and turned into its exit status."""
    from slicevlm.training.errors import RunError

    try:
        run_lightning_cli(argv)
    except RunError as error:
        label = " ".join([prog, *(argv if argv is not None else sys.argv[1:])[:1]])
        print(f"{label}: error: {error}", file=sys.stderr)
        return error.exit_code
    return 0


def lightning_cli_main() -> int:
    """Console script `lightning-cli`."""
    return run_reporting_errors()
