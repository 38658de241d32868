"""Command lines from typed functions: a function's signature and docstring are its parser.

Every ``slicevlm`` tool is one typed function (or takes one options dataclass); :func:`run_command`
turns it into a ``jsonargparse`` parser and calls it:

- a parameter without a default is a positional argument, one with a default an option named
  like the parameter with dashes (``max_new_tokens`` -> ``--max-new-tokens``); a keyword-only
  parameter (after ``*``, or a field of a ``kw_only`` dataclass) without a default is a required option;
- the type hint checks the value (``int``, ``float``, ``str``, ``Path``, ``X | None``); a
  ``Literal[...]`` lists the choices; ``list[X]`` takes one or more values, separated by spaces or
  commas alike (``--seeds 0 1 2`` = ``--seeds 0,1,2``): the one list convention of every command;
  ``bool = False`` is a switch (``--json``);
- the help of each argument is its entry in the docstring's ``Args:`` (or, for a dataclass,
  ``Attributes:``) section; the docstring's text before it is the command's description;
- a parameter typed as a dataclass adds that dataclass's fields as options, in a group titled by
  the dataclass docstring's first line, and is built from them before the call;
- ``Annotated[T, Arg(parse=..., metavar=...)]`` reads a value from its text with ``parse``
  (``"32,256,256"`` -> ``(32, 256, 256)``), names it ``metavar`` in the usage line, and gives the
  option another ``flag`` than the parameter's name (``as_json`` -> ``--json``).

A value the parser refuses stops the command with exit status 2 and the usage, as argparse does.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import inspect
import math
import sys
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # jsonargparse and docstring_parser load when a parser is built: importing a tool stays light
    import docstring_parser
    from jsonargparse import ArgumentParser


@dataclass(frozen=True)
class Arg:
    """Extra command-line facts for one parameter: ``Annotated[T, Arg(...)]``.

    Attributes:
        parse: Reads the value from its command-line text; raises ``argparse.ArgumentTypeError``
            or ``ValueError`` on bad text. A value that is not text (a default) is kept as it is.
        metavar: The value's name in the usage line (``OUT.png``, ``MM``).
        flag: The option's name when it cannot be the parameter's (``--json`` for ``as_json``,
            which must not hide the ``json`` module).
    """

    parse: Callable[[str], Any] | None = None
    metavar: str | None = None
    flag: str | None = None


class TextParser:
    """An argument type that reads text with a parse function and lets other values (defaults) through."""

    def __init__(self, parse: Callable[[str], Any], label: str) -> None:
        self.parse, self.label = parse, label

    def __call__(self, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return self.parse(value)
        except ValueError as error:  # argparse would print "invalid <name> value" and drop the message
            raise argparse.ArgumentTypeError(str(error)) from error


def positive(kind: type[int] | type[float]) -> Callable[[str], Any]:
    """A ``parse`` for :class:`Arg`: text -> a positive ``int``, or a positive finite ``float``.

    Args:
        kind: ``int`` or ``float``.
    """
    wanted = "a positive integer" if kind is int else "a positive number"

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}") from error
        if not (math.isfinite(value) and value > 0):
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}")
        return value

    return parse


@functools.cache
def help_formatter() -> type:
    """jsonargparse's help (types and defaults shown) that keeps the description's own line breaks."""
    from jsonargparse import DefaultHelpFormatter

    class HelpFormatter(DefaultHelpFormatter, argparse.RawDescriptionHelpFormatter):
        def _get_type_str(self, action: argparse.Action) -> str | None:
            if isinstance(action.type, TextParser):
                return action.type.label
            hint = action.type if action.type is not None else getattr(action, "_typehint", None)
            if isinstance(hint, type):
                return hint.__name__
            return super()._get_type_str(action)

    return HelpFormatter


def _split_annotated(hint: Any) -> tuple[Any, Arg]:
    if typing.get_origin(hint) is typing.Annotated:
        extras = [extra for extra in hint.__metadata__ if isinstance(extra, Arg)]
        return hint.__origin__, extras[0] if extras else Arg()
    return hint, Arg()


def _without_none(hint: Any) -> Any:
    """`X` for `X | None` (and `Optional[X]`); anything else unchanged."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        rest = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return hint


def _docstring(target: Callable[..., Any]) -> docstring_parser.Docstring:
    import docstring_parser

    return docstring_parser.parse(inspect.getdoc(target) or "")


def description_of(target: Callable[..., Any]) -> str:
    """The docstring's text before its sections: a command's description."""
    doc = _docstring(target)
    return "\n\n".join(part for part in (doc.short_description, doc.long_description) if part)


def _add_argument(container: Any, name: str, param: inspect.Parameter, hint: Any, help_text: str) -> None:
    """One parameter -> one positional argument or option on `container` (a parser or a group)."""
    hint, extra = _split_annotated(hint)
    kwargs: dict[str, Any] = {"help": help_text}
    if extra.metavar:
        kwargs["metavar"] = extra.metavar
    required = param.default is inspect.Parameter.empty
    positional = required and param.kind is not inspect.Parameter.KEYWORD_ONLY
    flag = extra.flag or "--" + name.replace("_", "-")
    if not required:
        kwargs["default"] = param.default
    elif not positional:
        kwargs["required"] = True
    value_hint = _without_none(hint)
    if value_hint is bool:
        if param.default is not False:
            raise TypeError(f"parameter {name!r}: a bool option must default to False (it becomes a switch)")
        container.add_argument(flag, action="store_true", dest=name, **kwargs)
        return
    if typing.get_origin(value_hint) is list and extra.parse is None:
        item = typing.get_args(value_hint)[0]
        kwargs["nargs"] = "+"  # each word may hold several comma-separated items
        kwargs["type"] = TextParser(_list_items(item), f"{_type_name(item)}, ...")
        kwargs["action"] = _JoinedItems
    elif extra.parse is not None:
        label = value_hint.__name__ if isinstance(value_hint, type) else str(value_hint)
        kwargs["type"] = TextParser(extra.parse, label)
    elif typing.get_origin(value_hint) is Literal:
        kwargs["choices"] = typing.get_args(value_hint)
    else:
        kwargs["type"] = hint
    if positional:
        container.add_argument(name, **kwargs)
    else:
        container.add_argument(flag, dest=name, **kwargs)


def _type_name(hint: Any) -> str:
    hint = _split_annotated(hint)[0]
    if typing.get_origin(hint) is Literal:
        return "{" + ",".join(str(choice) for choice in typing.get_args(hint)) + "}"
    return hint.__name__ if isinstance(hint, type) else str(hint)


class _JoinedItems(argparse.Action):
    """Stores a list option's items as one list, whether its words held one item each or several."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: str | None = None) -> None:
        setattr(namespace, self.dest, [item for word in values for item in (word if isinstance(word, list) else [word])])


def _list_items(item: Any) -> Callable[[str], list[Any]]:
    """A ``parse`` for one word of a list option: its comma-separated items, each read as `item` (a type, a
    ``Literal``, or ``Annotated[T, Arg(parse=...)]`` for items read by a parse function)."""
    item, extra = _split_annotated(item)
    choices = typing.get_args(item) if typing.get_origin(item) is Literal else None

    def parse(text: str) -> list[Any]:
        parts = [part.strip() for part in text.split(",") if part.strip()]
        if not parts:
            raise ValueError(f"expected one or more values, got {text!r}")
        if choices is not None:
            unknown = [part for part in parts if part not in choices]
            if unknown:
                raise ValueError(f"invalid choice(s) {', '.join(map(repr, unknown))}; choose from {', '.join(map(str, choices))}")
            return parts
        if extra.parse is not None:
            return [extra.parse(part) for part in parts]
        try:
            return [item(part) for part in parts]
        except ValueError:
            raise ValueError(f"expected {_type_name(item)} values, got {text!r}") from None

    return parse


def add_options(container: Any, target: Callable[..., Any]) -> None:
    """Add the parameters of `target` (a function or dataclass) to `container`: a parser or an argument group.

    Works on a plain ``argparse`` parser as well, for a command line not built by :func:`build_parser`.
    """
    _add_parameters(container, container, target)


def _add_parameters(parser: ArgumentParser, container: Any, target: Callable[..., Any]) -> None:
    hints = typing.get_type_hints(target, include_extras=True)
    helps = {param.arg_name: param.description or "" for param in _docstring(target).params}
    factories = {
        field.name: field.default_factory for field in dataclasses.fields(target)  # type: ignore[arg-type]
        if field.default_factory is not dataclasses.MISSING
    } if dataclasses.is_dataclass(target) else {}
    for name, param in inspect.signature(target).parameters.items():
        if name in factories:  # a dataclass field's `default_factory` gives the option's default
            param = param.replace(default=factories[name]())
        hint = hints.get(name, inspect.Parameter.empty)
        if hint is inspect.Parameter.empty:
            raise TypeError(f"parameter {name!r} of {target.__qualname__} needs a type hint to become an option")
        if dataclasses.is_dataclass(hint):
            group = parser.add_argument_group(_docstring(hint).short_description or hint.__name__)
            _add_parameters(parser, group, hint)
        else:
            _add_argument(container, name, param, hint, helps.get(name, ""))


def build_parser(function: Callable[..., Any], prog: str, description: str | None = None) -> ArgumentParser:
    """The parser of `function`'s parameters (see the module docstring for the rules).

    Args:
        function: a typed function; its docstring documents every parameter.
        prog: the command as typed (``"slicevlm synth"``).
        description: the help's description (default: the function docstring's text before ``Args:``).
    """
    from jsonargparse import ArgumentParser

    parser = ArgumentParser(
        prog=prog,
        description=description_of(function) if description is None else description,
        formatter_class=help_formatter(),
    )
    _add_parameters(parser, parser, function)
    return parser


def join_negative_values(parser: argparse.ArgumentParser, argv: list[str] | None) -> list[str]:
    """`argv` with every option that takes a value glued to a next token starting with ``-`` and a digit.

    argparse reads ``-600,1500`` (a window with a negative centre) as an unknown option and stops with
    "expected one argument"; ``--window -600,1500`` becomes ``--window=-600,1500``, as a user means it.
    """
    if argv is None:
        argv = sys.argv[1:]
    takes_value = {flag for action in parser._actions if action.nargs != 0 for flag in action.option_strings}
    joined: list[str] = []
    tokens = iter(argv)
    for token in tokens:
        if token in takes_value:
            following = next(tokens, None)
            if following is not None and len(following) > 1 and following[0] == "-" and (following[1].isdigit() or following[1] == "."):
                joined.append(f"{token}={following}")
                continue
            joined.append(token)
            if following is not None:
                joined.append(following)
            continue
        joined.append(token)
    return joined


def _arguments(target: Callable[..., Any], values: dict[str, Any]) -> dict[str, Any]:
    """`target`'s keyword arguments from the parsed values (dataclass parameters built from their fields)."""
    hints = typing.get_type_hints(target)
    arguments = {}
    for name in inspect.signature(target).parameters:
        hint = hints[name]
        arguments[name] = hint(**_arguments(hint, values)) if dataclasses.is_dataclass(hint) else values[name]
    return arguments


def _parsed_arguments(parser: ArgumentParser, function: Callable[..., Any], argv: list[str] | None) -> dict[str, Any]:
    """Parse `argv` and build `function`'s keyword arguments; a value an options dataclass refuses (its
    ``__post_init__`` raises ``ValueError``, e.g. ``--max-new-tokens 0``) stops like any bad option."""
    parsed = parser.parse_args(join_negative_values(parser, argv))
    try:
        return _arguments(function, dict(vars(parsed)))
    except ValueError as error:
        parser.error(str(error))


def parse_arguments(
    function: Callable[..., Any], argv: list[str] | None, prog: str, description: str | None = None
) -> dict[str, Any]:
    """`function`'s keyword arguments as `argv` gives them (dataclass parameters built)."""
    return _parsed_arguments(build_parser(function, prog, description), function, argv)


def run_command(function: Callable[..., int | None], argv: list[str] | None, prog: str, description: str | None = None) -> int:
    """Parse `argv` with `function`'s parser, call it, and return its exit status (None -> 0)."""
    arguments = _parsed_arguments(build_parser(function, prog, description), function, argv)
    return int(function(**arguments) or 0)
