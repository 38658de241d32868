"""LightningCLI for SliceVLM: `lightning-cli fit --config configs/stage2.yaml` (or `slicevlm fit ...`).

The model is `SliceVLMModule` with its vision pipeline and language model given as `class_path`s;
the data is `M3DDataModule`. Every default lives in a class signature and every docstring line
becomes `--help` text; `--print_config` prints the resolved, documented config. The resolved
config is saved beside the logs of every run and copied into the checkpoint folder.
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


def lightning_cli_main() -> int:
    """Console script `lightning-cli`."""
    run_lightning_cli()
    return 0
