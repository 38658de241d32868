"""``--max-new-tokens`` and ``--engine``: the generation options of every command that answers.

``slicevlm ask | report | ask-batch`` take a :class:`GenerationOptions` parameter, which the
command line turns into these two options (see :mod:`slicevlm.command_line`); the server's argparse
parser adds the same options with :func:`add_generation_options`. Either way they become one
:class:`~slicevlm.llm.generation_config.GenerationConfig`, whose defaults and checks they are.
Light on imports.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from slicevlm.llm.generation_config import DEFAULT_GENERATION, Engine, GenerationConfig


@dataclass(frozen=True)
class GenerationOptions:
    """generation

    Attributes:
        max_new_tokens: answer length cap (256, as the paper's evaluation)
        engine: decoding: transformers generate, or our static-cache loop (same tokens)
    """

    max_new_tokens: int = DEFAULT_GENERATION.max_new_tokens
    engine: Engine = DEFAULT_GENERATION.engine  # type: ignore[assignment]

    def config(self) -> GenerationConfig:
        """The settings the options name.

        Raises:
            ConfigError: a bad value (e.g. ``--max-new-tokens 0``), naming the option.
        """
        return GenerationConfig(max_new_tokens=self.max_new_tokens, engine=self.engine)


def add_generation_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """Add ``--max-new-tokens`` and ``--engine`` to an argparse parser (defaults: :data:`DEFAULT_GENERATION`)."""
    from slicevlm.command_line import add_options

    add_options(parser, GenerationOptions)


def generation_from_args(args: argparse.Namespace) -> GenerationConfig:
    """The settings the options of :func:`add_generation_options` name.

    Raises:
        ConfigError: a bad value (e.g. ``--max-new-tokens 0``), naming the option.
    """
    return GenerationOptions(max_new_tokens=args.max_new_tokens, engine=args.engine).config()
