"""``--max-new-tokens`` and ``--engine``: the generation options of every command that answers.

``slicevlm ask | report | ask-batch`` and the server add them with :func:`add_generation_options`
and turn them into one :class:`~slicevlm.llm.generation_config.GenerationConfig` with
:func:`generation_from_args`; the defaults and the checks are that class's. Light on imports.
"""

from __future__ import annotations

import argparse

from slicevlm.llm.generation_config import DEFAULT_GENERATION, ENGINES, GenerationConfig


def add_generation_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """Add ``--max-new-tokens`` and ``--engine`` (defaults: :data:`DEFAULT_GENERATION`)."""
    parser.add_argument(
        "--max-new-tokens", type=int, default=DEFAULT_GENERATION.max_new_tokens,
        help=f"answer length cap ({DEFAULT_GENERATION.max_new_tokens}, as the paper's evaluation)",
    )
    parser.add_argument(
        "--engine", default=DEFAULT_GENERATION.engine, choices=ENGINES,
        help="decoding: transformers generate, or our static-cache loop (same tokens)",
    )


def generation_from_args(args: argparse.Namespace) -> GenerationConfig:
    """The settings the options name.

    Raises:
        ConfigError: a bad value (e.g. ``--max-new-tokens 0``), naming the option.
    """
    return GenerationConfig(max_new_tokens=args.max_new_tokens, engine=args.engine)
