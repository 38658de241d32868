"""`slicevlm` tools: a typed function's signature and docstring become its command line."""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path
from typing import Annotated, Literal

import pytest

from slicevlm.__main__ import COMMANDS, main
from slicevlm.command_line import Arg, build_parser, parse_arguments, positive, run_command


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Model:
    """model

    Attributes:
        checkpoint: the folder
        dtype: the precision
    """

    checkpoint: str
    dtype: Literal["auto", "float32"] = "auto"


def _parse_pair(text: str) -> tuple[int, int]:
    first, second = text.split(",")  # ValueError on anything but two parts
    return int(first), int(second)


def _tool(
    volume: Path,
    max_new_tokens: int = 256,
    as_json: Annotated[bool, Arg(flag="--json")] = False,
    seeds: list[int] = [0],  # noqa: B006
    pair: Annotated[tuple[int, int], Arg(parse=_parse_pair, metavar="A,B")] = (1, 2),
    *,
    model: _Model,
) -> int:
    """Do one thing.

    Args:
        volume: the input volume
        max_new_tokens: the cap (100% of it)
        as_json: print JSON
        seeds: training seeds
        pair: two numbers
        model: the model
    """
    return max_new_tokens


def test_signature_becomes_options():
    values = parse_arguments(
        _tool, ["v.npy", "--max-new-tokens", "7", "--json", "--seeds", "1", "2", "--pair", "3,4", "--checkpoint", "c"], "tool"
    )
    assert values == {
        "volume": Path("v.npy"), "max_new_tokens": 7, "as_json": True, "seeds": [1, 2], "pair": (3, 4),
        "model": _Model(checkpoint="c", dtype="auto"),
    }
    assert run_command(_tool, ["v.npy", "--checkpoint", "c"], "tool") == 256  # defaults from the signature


def _listing(seeds: list[int] = [0], controls: list[Literal["swapped", "blank", "none"]] = ["swapped"]) -> None:  # noqa: B006
    """Lists.

    Args:
        seeds: seeds
        controls: controls
    """


@pytest.mark.parametrize(
    ("argv", "seeds", "controls"),
    [
        (["--seeds", "0", "1", "2"], [0, 1, 2], ["swapped"]),  # space-separated
        (["--seeds", "0,1,2"], [0, 1, 2], ["swapped"]),  # comma-separated
        (["--seeds", "0,1", "2", "--controls", "swapped,blank"], [0, 1, 2], ["swapped", "blank"]),  # both
        ([], [0], ["swapped"]),  # the defaults, untouched
    ],
)
def test_every_list_option_takes_spaces_or_commas(argv, seeds, controls):
    assert parse_arguments(_listing, argv, "tool") == {"seeds": seeds, "controls": controls}


@pytest.mark.parametrize(("argv", "message"), [(["--seeds", "0,x"], "int"), (["--controls", "swapped,twice"], "twice")])
def test_a_bad_list_item_exits_2_naming_it(argv, message, capsys):
    with pytest.raises(SystemExit) as stop:
        parse_arguments(_listing, argv, "tool")
    assert stop.value.code == 2 and message in capsys.readouterr().err


def test_docstring_becomes_help(capsys):
    with pytest.raises(SystemExit) as stop:
        build_parser(_tool, "tool").parse_args(["--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    assert "Do one thing." in text and "Args:" not in text
    assert "the cap (100% of it)" in text and "--max-new-tokens" in text and "--pair A,B" in text
    assert "model:" in text and "--dtype {auto,float32}" in text  # a dataclass parameter is an option group


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["v.npy"], "--checkpoint"),  # keyword-only without a default: a required option
        (["v.npy", "--checkpoint", "c", "--pair", "1"], "--pair"),  # the parse function refused the text
        (["v.npy", "--checkpoint", "c", "--dtype", "int4"], "--dtype"),  # not one of the Literal's choices
        (["v.npy", "--checkpoint", "c", "--max-new-tokens", "many"], "max_new_tokens"),
    ],
)
def test_a_refused_value_exits_2_naming_the_option(argv, message, capsys):
    with pytest.raises(SystemExit) as stop:
        run_command(_tool, argv, "tool")
    assert stop.value.code == 2
    assert message in capsys.readouterr().err


def test_top_level_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    assert all(name in text and summary in text for name, (_, summary) in COMMANDS.items())


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_help(name, capsys):
    module_name, function_name = COMMANDS[name][0].split(":")
    with pytest.raises(SystemExit) as stop:
        getattr(importlib.import_module(module_name), function_name)(["--help"])
    assert stop.value.code == 0
    assert f"usage: slicevlm {name}" in capsys.readouterr().out


@pytest.mark.parametrize(("kind", "text", "value"), [(int, "3", 3), (float, "2.5", 2.5), (float, "1e-3", 1e-3)])
def test_positive_reads_positive_numbers(kind, text, value):
    assert positive(kind)(text) == value and type(positive(kind)(text)) is kind


@pytest.mark.parametrize(("kind", "text"), [(int, "0"), (int, "-2"), (int, "2.5"), (float, "0"), (float, "-1"), (float, "nan"), (float, "inf"), (float, "x")])
def test_positive_refuses_the_rest_naming_what_it_expected(kind, text):
    import argparse

    with pytest.raises(argparse.ArgumentTypeError, match="expected a positive (integer|number), got"):
        positive(kind)(text)
