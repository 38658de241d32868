"""Every `slicevlm` command in one place.

`slicevlm COMMAND [ARGS]` (or `python -m slicevlm COMMAND`) dispatches to the function named here.
Lightning's own subcommands (fit, validate, test, predict) go to the LightningCLI in `slicevlm.cli`;
every other command is a `main(argv) -> int` in the module that owns the work, imported only when it
is called so `slicevlm --help` stays fast (no torch, no jsonargparse). Each tool's options are the
parameters of one typed function (or options dataclass) in that module, turned into a parser by
`slicevlm.command_line` (jsonargparse): the signature is the command line, the docstring its help.
A command whose `main(argv)` parses its own arguments is registered the same way, with one line.

A user error (any `slicevlm.errors.SliceVLMError`: a bad config value, missing weights or data, an
unreadable input file, a missing optional package) prints as one `slicevlm COMMAND: error: ...`
message without a traceback; `--debug` anywhere on the command line, or `SLICEVLM_DEBUG=1`, prints
the traceback too. Any other exception is a bug and always shows its traceback.
"""

from __future__ import annotations

import importlib
import os
import sys

LIGHTNING_SUBCOMMANDS = ("fit", "validate", "test", "predict")

#: command -> ("module:function", one-line help); the function is `main(argv: list[str] | None) -> int`.
COMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("slicevlm.testbed.synth:main", "write the synthetic 3D VQA testbed in the M3D layout"),
    "check-data": ("slicevlm.tools.check:main", "check an M3D data root: missing files, bad rows, leakage"),
    "prepare-m3d": ("slicevlm.tools.prepare:main", "raw M3D-Cap slice folders -> model-ready volumes"),
    "shard": ("slicevlm.io.shards:main", "pack a data root's .npy volumes into LitData shards (object storage)"),
    "export-zero": ("slicevlm.training.zero_export:main", "DeepSpeed ZeRO checkpoint folder -> inference checkpoint folder"),
    "upload": ("slicevlm.hub_upload:main", "upload a checkpoint folder to a Hugging Face model repo"),
    "make-tiny-models": ("slicevlm.tiny:main", "write the tiny encoder/LLM/tokenizer used by the demo and CI"),
    "score": ("slicevlm.metrics.score:main", "score a predictions JSONL under the m3d or coco protocol"),
    "ask": ("slicevlm.inference.cli:ask_main", "ask a question about one volume"),
    "report": ("slicevlm.inference.cli:report_main", "write a report for one volume"),
    "ask-batch": ("slicevlm.inference.cli:batch_main", "answer a CSV of (volume, question) rows, resumable"),
    "reproduce": ("slicevlm.reproduction.command:main", "evaluate a checkpoint (or the synthetic twin) and print paper-vs-ours; towers: SliceVLM beside M3D-LaMed and Med3DVLM"),
    "configs": ("slicevlm.shipped_configs:main", "print where the shipped configs are (for --config outside a checkout)"),
    "serve": ("slicevlm.serve:main", "LitServe API + web page for a checkpoint (needs the serve extra)"),
    "bench": ("slicevlm.bench.run:main", "speed benchmarks printed as ratios measured side by side"),
    "memory": ("slicevlm.training.memory:main", "GPU memory per training config, computed (not measured)"),
    "demo-targets": ("slicevlm.demo_targets:main", "did a demo's evaluation read the images? closed accuracy own vs swapped volume, checked against targets"),
    "rehearse": ("slicevlm.rehearsal.run:main", "both stages, export, answers and the server at the paper's size on the CPU, checked"),
}


def _usage() -> str:
    lines = ["usage: slicevlm COMMAND [ARGS]", "", "training (LightningCLI):"]
    lines += [f"  {name:<18} see `slicevlm {name} --help`" for name in LIGHTNING_SUBCOMMANDS]
    lines += ["", "tools:"]
    lines += [f"  {name:<18} {help_text}" for name, (_, help_text) in COMMANDS.items()]
    lines += ["", "--debug (or SLICEVLM_DEBUG=1) shows the traceback of errors that are otherwise one message."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run one `slicevlm` command and return its exit code."""
    from slicevlm.errors import DEBUG_ENV, take_debug_flag

    argv, debug = take_debug_flag(list(sys.argv[1:] if argv is None else argv))
    if not debug:
        return _dispatch(argv, debug)
    # Subcommands that report their own errors read the switch from the environment (for this call only).
    previous = os.environ.get(DEBUG_ENV)
    os.environ[DEBUG_ENV] = "1"
    try:
        return _dispatch(argv, debug)
    finally:
        if previous is None:
            del os.environ[DEBUG_ENV]
        else:
            os.environ[DEBUG_ENV] = previous


def _dispatch(argv: list[str], debug: bool) -> int:
    """Run the command `argv[0]` with the rest of `argv`; user errors become one message."""
    from slicevlm.errors import SliceVLMError, report

    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    command, rest = argv[0], argv[1:]
    if command in LIGHTNING_SUBCOMMANDS or command.startswith("-"):
        from slicevlm.cli import run_reporting_errors

        return run_reporting_errors(argv, prog="slicevlm", debug=debug or None)
    if command not in COMMANDS:
        import difflib

        guess = difflib.get_close_matches(command, [*COMMANDS, *LIGHTNING_SUBCOMMANDS], n=1)
        hint = f" Did you mean `{guess[0]}`?" if guess else ""
        print(f"slicevlm: unknown command {command!r}.{hint}\n\n{_usage()}", file=sys.stderr)
        return 2
    target, _ = COMMANDS[command]
    module_name, function_name = target.split(":")
    try:
        function = getattr(importlib.import_module(module_name), function_name)
        return int(function(rest) or 0)
    except SliceVLMError as error:
        return report(f"slicevlm {command}", error, debug or None)


if __name__ == "__main__":
    sys.exit(main())
