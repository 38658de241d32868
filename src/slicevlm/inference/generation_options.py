"""``--max-new-tokens`` and ``--engine`` on a parser that is not built from a typed function.

``slicevlm ask | report | ask-batch`` take a :class:`~slicevlm.llm.generation_config.GenerationConfig`
parameter, which :mod:`slicevlm.command_line` turns into these options; :func:`add_generation_options`
adds the same options (same fields, defaults and help) to another parser. Light on imports.
"""

from __future__ import annotations

import argparse
from dataclasses import fields

from slicevlm.llm.generation_config import GenerationConfig


def add_generation_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """Add one option per :class:`GenerationConfig` field (``--max-new-tokens``, ``--engine``)."""
    from slicevlm.command_line import add_options

    add_options(parser, GenerationConfig)


def generation_from_args(args: argparse.Namespace) -> GenerationConfig:
    """The settings the options of :func:`add_generation_options` name.

    Raises:
        ConfigError: a bad value (e.g. ``--max-new-tokens 0``), naming the option.
    """
    return GenerationConfig(**{field.name: getattr(args, field.name) for field in fields(GenerationConfig)})
