"""Every command line in README.md's shell blocks is checked against the code, so the README cannot drift.

Each line of a fenced ```bash block (lines ending in ``\\`` joined, ``# comments`` and blank lines
dropped) is one test case, checked by the rule for its first word:

- ``make TARGET [VAR=value ...]``: TARGET is a target of the Makefile and ``make -n`` (a dry run, in
  the repository root) exits 0; every ``slicevlm`` / ``lightning-cli`` command the target would run
  is then checked by the rules below without running anything (``make serve`` is the server's
  command line, parsed and checked).
- ``lightning-cli SUBCOMMAND ...`` (or ``slicevlm fit|validate|test|predict ...``): every
  ``--config`` file exists and the whole line parses: LightningCLI runs in-process with
  ``--print_config`` added (it prints the resolved config and exits 0 before any model is built),
  and each ``--a.b.c VALUE`` override is in the printed config.
- ``slicevlm ask|report|ask-batch ...``: run for real on the CPU, in a fresh folder holding the
  README's file names: ``scan.nii.gz`` (a small synthetic NIfTI volume), ``questions.csv`` (rows
  naming it) and ``runs/demo/checkpoint`` (a tiny checkpoint). Exit status 0 and an answer; ``--json``
  prints JSON, ``--explain FILE`` writes FILE, ``ask-batch --out FILE`` writes one line per CSV row.
- ``slicevlm serve ...``: the server's parser accepts the arguments and its checks before any
  process starts pass (``check_args``, in the same folder); no server is started.
- ``slicevlm configs NAME ...``: run; it prints the path of each shipped config, which must exist.
- any other ``slicevlm`` command (``check-data``, ``upload``, ...): parsed by its own parser, which
  builds the function's arguments; the function is not called.
- a line a CPU machine without the network cannot check is listed in ``NOT_RUN_HERE`` with the reason
  (and skipped); an entry that no longer matches a README line fails.
- a line whose first word has no rule fails, asking for one: a new kind of command cannot slip in.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"

#: Command-line prefix -> why that line cannot be checked on a CPU machine without the network.
NOT_RUN_HERE: dict[str, str] = {
    "hf download": "needs the network (downloads weights from the Hugging Face Hub)",
}

#: The info strings of fenced blocks whose lines are commands.
SHELL_BLOCKS = ("bash", "sh", "shell")
#: Fenced blocks of these languages hold no commands; a block with any other info string (or none) fails
#: `test_every_fenced_block_is_known`, so commands cannot hide in an untagged block.
OTHER_BLOCKS = ("yaml", "yml", "json", "python", "text", "toml", "csv", "mermaid")
FENCE = re.compile(r"^\s*(```|~~~)\s*([^\s`]*)")

#: The `slicevlm` commands a README line runs for real (in a `make` target's dry run they are only parsed).
RUN_COMMANDS = ("ask", "report", "ask-batch")
#: The rows of the README's `questions.csv`.
QUESTIONS = (
    ("In which plane is the image displayed?", "Axial|Coronal|Sagittal"),
    ("What plane is this scan?", ""),
    ("report", ""),
)


@dataclass(frozen=True)
class Command:
    """One README command line: where it starts and its words as the shell splits them."""

    line: int
    argv: tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join(self.argv)

    def __str__(self) -> str:
        return f"README.md line {self.line}: {shlex.join(self.argv)}"


def fenced_blocks(markdown: str) -> list[tuple[int, str, list[tuple[int, str]]]]:
    """(line of the opening fence, info string, [(line number, line), ...]) of each fenced block."""
    blocks: list[tuple[int, str, list[tuple[int, str]]]] = []
    current: tuple[int, str, list[tuple[int, str]]] | None = None
    for number, line in enumerate(markdown.splitlines(), start=1):
        fence = FENCE.match(line)
        if fence and current is None:
            current = (number, fence.group(2).lower(), [])
        elif fence:
            blocks.append(current)
            current = None
        elif current is not None:
            current[2].append((number, line))
    if current is not None:
        raise AssertionError(f"README.md line {current[0]}: a fenced block is never closed")
    return blocks


def split_words(text: str) -> list[str]:
    """`text`'s words as a shell splits them, a `#` comment dropped (an apostrophe in a comment is no quote).

    Unlike a shell, a `#` inside a word (`a#b`) starts a comment too: no README command has one.
    """
    lexer = shlex.shlex(text, posix=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    return list(lexer)


def readme_commands(markdown: str) -> list[Command]:
    """Every command line of the shell blocks: continuation lines joined, comments and blank lines dropped."""
    commands = []
    for _, info, lines in fenced_blocks(markdown):
        if info not in SHELL_BLOCKS:
            continue
        pending, start = "", 0
        for number, line in lines:
            if not pending:
                start = number
            stripped = line.rstrip()
            if stripped.endswith("\\") and " #" not in stripped and not stripped.lstrip().startswith("#"):
                pending += stripped[:-1] + " "
                continue
            words = split_words(pending + line)
            pending = ""
            if words:
                commands.append(Command(start, tuple(words)))
        if pending:
            raise AssertionError(f"README.md line {start}: a command ends its block with a continuation `\\`")
    return commands


def case_ids(commands: list[Command]) -> list[str]:
    """The first three words of each command, more where two commands would share them."""
    ids = []
    for command in commands:
        width = 3
        while width < len(command.argv) and any(
            other is not command and other.argv[:width] == command.argv[:width] for other in commands
        ):
            width += 1
        ids.append(" ".join(command.argv[:width]))
    return ids


COMMANDS = readme_commands(README.read_text(encoding="utf-8"))


def not_run_here(command: Command) -> str | None:
    """The reason `command` is not checked here, or None."""
    for prefix, reason in NOT_RUN_HERE.items():
        if command.text.startswith(prefix):
            return reason
    return None


# --- the rules --------------------------------------------------------------------------------------


def makefile_targets() -> set[str]:
    """The explicit targets of the Makefile (`name:` at the start of a line, not `name :=`)."""
    text = (REPO / "Makefile").read_text(encoding="utf-8")
    return {match.group(1) for match in re.finditer(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", text, re.MULTILINE)}


def commands_run_by(dry_run: str) -> list[tuple[str, ...]]:
    """The `slicevlm` and `lightning-cli` command lines in `make -n`'s output, as the README would write them."""
    found = []
    for line in dry_run.splitlines():
        try:
            words = split_words(line)
        except ValueError:
            continue  # a shell construct shlex cannot split is not one of ours
        if len(words) >= 3 and Path(words[0]).name.startswith("python") and words[1:3] == ["-m", "slicevlm"]:
            found.append(("slicevlm", *words[3:]))
        elif words and Path(words[0]).name == "lightning-cli":
            found.append(("lightning-cli", *words[1:]))
    return found


def check_make(command: Command, runner: Runner) -> None:
    args = list(command.argv[1:])
    targets = [arg for arg in args if "=" not in arg and not arg.startswith("-")]
    assert targets, f"{command}: names no make target"
    missing = sorted(set(targets) - makefile_targets())
    assert not missing, f"{command}: no such target in the Makefile: {', '.join(missing)}"
    result = subprocess.run(
        ["make", "--no-print-directory", "-n", *args], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, f"{command}: `make -n` exited {result.returncode}:\n{result.stderr}"
    for argv in commands_run_by(result.stdout):
        runner.check(Command(command.line, argv), run=False)


def print_config(command: Command, argv: list[str], capsys: pytest.CaptureFixture) -> str:
    """LightningCLI on `argv` with `--print_config`, in-process: the printed config (fails on a non-zero exit)."""
    from slicevlm.cli import run_lightning_cli

    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        run_lightning_cli([*argv, "--print_config"])
    captured = capsys.readouterr()
    code = exit_info.value.code
    assert code in (0, None), f"{command}: LightningCLI --print_config exited {code}:\n{captured.err[-3000:]}"
    return captured.out


def check_lightning(command: Command, runner: Runner) -> None:
    import yaml

    from slicevlm.__main__ import LIGHTNING_SUBCOMMANDS

    args = list(command.argv[1:])
    assert args and args[0] in LIGHTNING_SUBCOMMANDS, f"{command}: the subcommand is none of {LIGHTNING_SUBCOMMANDS}"
    configs = [args[i + 1] for i, arg in enumerate(args[:-1]) if arg == "--config"]
    configs += [arg.split("=", 1)[1] for arg in args if arg.startswith("--config=")]
    missing = [name for name in configs if not (REPO / name).is_file()]
    assert not missing, f"{command}: no such config file: {', '.join(missing)}"
    runner.monkeypatch.chdir(REPO)
    printed = print_config(command, args, runner.capsys)
    config = yaml.safe_load(printed)
    assert isinstance(config, dict) and config, f"{command}: --print_config printed no config"
    for i, arg in enumerate(args[:-1]):  # each `--a.b.c VALUE` override is in the resolved config
        if not arg.startswith("--") or "." not in arg or "=" in arg or args[i + 1].startswith("--"):
            continue
        value: object = config
        for key in arg[2:].split("."):
            value = value.get(key) if isinstance(value, dict) else None
        assert value == yaml.safe_load(args[i + 1]), f"{command}: {arg} {args[i + 1]} resolved to {value!r}"


def check_serve(command: Command, runner: Runner) -> None:
    """Parse the server's arguments and run its checks before any process starts (in the README's folder)."""
    from slicevlm.command_line import join_negative_values
    from slicevlm.serve import server
    from slicevlm.trusted_classes import TRUST_ENV

    runner.workspace()
    runner.monkeypatch.delenv(TRUST_ENV, raising=False)
    parser = server.build_parser()
    try:
        args = parser.parse_args(join_negative_values(parser, list(command.argv[2:])))
        server.check_args(parser, args)
    except SystemExit as error:
        raise AssertionError(f"{command}: the server refuses its arguments (exit {error.code}):\n{runner.capsys.readouterr().err}") from None


class Parsed(Exception):
    """Raised in place of going on once a command's parser has parsed its whole command line."""

    def __init__(self, parser: object, result: object) -> None:
        super().__init__("parsed")
        self.parser = parser
        self.namespace = result[0] if isinstance(result, tuple) else result


def stop_after_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    """From here on, the first complete parse of any argparse/jsonargparse parser raises `Parsed`: a
    command's `main` parses its arguments and stops before doing any work, whatever it would do next.
    Parsers built by `slicevlm.command_line.build_parser` are tagged with their function."""
    import argparse

    import jsonargparse

    from slicevlm import command_line

    depth = [0]

    def wrap(original):
        def parse(self, *args, **kwargs):
            depth[0] += 1
            try:
                result = original(self, *args, **kwargs)
            finally:
                depth[0] -= 1
            if depth[0] == 0:
                raise Parsed(self, result)
            return result

        return parse

    for cls in (argparse.ArgumentParser, jsonargparse.ArgumentParser):
        for name in ("parse_args", "parse_known_args"):
            if name in vars(cls):
                monkeypatch.setattr(cls, name, wrap(vars(cls)[name]))
    build_parser = command_line.build_parser

    def tagged(function, *args, **kwargs):
        parser = build_parser(function, *args, **kwargs)
        parser.readme_function = function
        return parser

    monkeypatch.setattr(command_line, "build_parser", tagged)


def check_parses(command: Command, runner: Runner) -> None:
    """Parse `slicevlm COMMAND ...` with the command's own parser and stop there; for a typed function
    (`command_line.run_command`) build the arguments it would get (its dataclasses too). Nothing runs."""
    from slicevlm import command_line
    from slicevlm.__main__ import main

    runner.capsys.readouterr()
    with runner.monkeypatch.context() as patches:
        stop_after_parsing(patches)
        try:
            code = exit_status(main, list(command.argv[1:]))
        except Parsed as parsed:
            function = getattr(parsed.parser, "readme_function", None)
            if function is not None:
                command_line._arguments(function, dict(vars(parsed.namespace)))
            return
    raise AssertionError(
        f"{command}: exit status {code} before its arguments were parsed:\n{runner.capsys.readouterr().err[-3000:]}"
        if code else f"{command}: `slicevlm {command.argv[1]}` returned without parsing a command line "
        "with argparse or jsonargparse: add a rule for it in tests/test_readme_commands.py"
    )


def check_configs(command: Command, runner: Runner) -> None:
    from slicevlm.__main__ import main

    runner.capsys.readouterr()
    code = exit_status(main, list(command.argv[1:]))
    captured = runner.capsys.readouterr()
    assert code == 0, f"{command}: exit status {code}:\n{captured.err}"
    printed = captured.out.splitlines()
    assert printed and all(Path(line).exists() for line in printed), f"{command}: printed {captured.out!r}"


def check_run(command: Command, runner: Runner) -> None:
    """Run `slicevlm ask|report|ask-batch` with the README's arguments in the README's folder; check what it wrote."""
    from slicevlm.__main__ import main

    folder = runner.workspace()
    args = list(command.argv[1:])
    runner.capsys.readouterr()
    code = exit_status(main, args)
    captured = runner.capsys.readouterr()
    assert code == 0, f"{command}: exit status {code}:\n{captured.err[-3000:]}"
    if "--out" in args:
        out = folder / args[args.index("--out") + 1]
        lines = out.read_text(encoding="utf-8").splitlines() if out.is_file() else []
        assert len(lines) == len(QUESTIONS), f"{command}: {out.name} has {len(lines)} lines for {len(QUESTIONS)} rows"
        for line in lines:
            json.loads(line)
    else:
        assert captured.out.strip(), f"{command}: printed nothing on stdout"
    if "--json" in args:
        json.loads(captured.out)
    if "--explain" in args:
        picture = folder / args[args.index("--explain") + 1]
        assert picture.is_file() and picture.stat().st_size > 0, f"{command}: wrote no {picture.name}"


def exit_status(main, argv: list[str]) -> int:
    """`main(argv)`'s exit status, a SystemExit (a parser's or a user error's) included."""
    try:
        return int(main(argv) or 0)
    except SystemExit as error:
        return error.code if isinstance(error.code, int) else (0 if error.code is None else 1)


def check_slicevlm(command: Command, runner: Runner, run: bool) -> None:
    from slicevlm.__main__ import COMMANDS as SLICEVLM_COMMANDS
    from slicevlm.__main__ import LIGHTNING_SUBCOMMANDS

    assert len(command.argv) > 1, f"{command}: no slicevlm command"
    name = command.argv[1]
    if name in LIGHTNING_SUBCOMMANDS:
        check_lightning(Command(command.line, ("lightning-cli", *command.argv[1:])), runner)
    elif name in RUN_COMMANDS and run:
        check_run(command, runner)
    elif name == "serve":
        check_serve(command, runner)
    elif name == "configs":
        check_configs(command, runner)
    elif name in SLICEVLM_COMMANDS:
        check_parses(command, runner)
    else:
        raise AssertionError(f"{command}: `slicevlm` has no command {name!r} (see COMMANDS in slicevlm/__main__.py)")


@dataclass
class Runner:
    """What the rules need: pytest's fixtures, and the README's folder made on demand."""

    request: pytest.FixtureRequest
    monkeypatch: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture

    def workspace(self) -> Path:
        """A fresh folder with the README's files (scan.nii.gz, questions.csv, runs/demo/checkpoint), now the cwd."""
        folder = self.request.getfixturevalue("tmp_path") / "readme"
        if not folder.is_dir():
            inputs: Path = self.request.getfixturevalue("readme_inputs")
            shutil.copytree(inputs, folder, symlinks=False)
        self.monkeypatch.chdir(folder)
        return folder

    def check(self, command: Command, run: bool = True) -> None:
        """Check `command` by the rule for its first word (`run=False`: parse the `slicevlm` commands, run none)."""
        first = command.argv[0]
        if first == "make":
            check_make(command, self)
        elif first == "lightning-cli":
            check_lightning(command, self)
        elif first == "slicevlm":
            check_slicevlm(command, self, run)
        else:
            raise AssertionError(
                f"{command}: no rule checks commands starting with {first!r}. Add a rule to "
                "tests/test_readme_commands.py, or, if it cannot be checked on a CPU machine without the "
                "network, an entry to NOT_RUN_HERE with the reason."
            )


# --- fixtures -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def readme_checkpoint(tiny_model_factory, tmp_path_factory) -> Path:
    """A tiny stage-2 checkpoint folder (tiny warmed-up LLM, untrained LoRA and vision modules)."""
    from slicevlm.checkpoint import save_checkpoint_folder
    from slicevlm.llm.lora import LoraSettings

    model = tiny_model_factory()
    model.language.add_lora(LoraSettings())
    return save_checkpoint_folder(model, tmp_path_factory.mktemp("readme_ckpt") / "ckpt", stage=2, input_size=(32, 64, 64))


@pytest.fixture(scope="module")
def readme_inputs(readme_checkpoint, tmp_path_factory) -> Path:
    """The README's files: scan.nii.gz (16x32x32 float32), questions.csv naming it, runs/demo/checkpoint."""
    import numpy as np
    import SimpleITK as sitk

    folder = tmp_path_factory.mktemp("readme_inputs")
    z, y, x = np.meshgrid(*(np.linspace(-1, 1, n) for n in (16, 32, 32)), indexing="ij")
    body = ((y / 0.8) ** 2 + (x / 0.9) ** 2 < 1 - 0.5 * z**2).astype(np.float32)
    noise = np.random.default_rng(0).normal(0, 0.05, body.shape).astype(np.float32)
    image = sitk.GetImageFromArray(body * (0.5 + 0.4 * np.sin(3 * z)).astype(np.float32) + noise)
    image.SetSpacing((1.0, 1.0, 2.5))
    sitk.WriteImage(image, str(folder / "scan.nii.gz"))
    rows = ["volume,question,choices"] + [f"scan.nii.gz,{question},{choices}" for question, choices in QUESTIONS]
    (folder / "questions.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    shutil.copytree(readme_checkpoint, folder / "runs" / "demo" / "checkpoint")
    return folder


# --- the tests ---------------------------------------------------------------------------------------


def test_the_readme_has_commands():
    words = {command.argv[0] for command in COMMANDS}
    assert len(COMMANDS) >= 10 and {"make", "lightning-cli", "slicevlm"} <= words, [str(c) for c in COMMANDS]


def test_every_fenced_block_is_known():
    unknown = [
        f"README.md line {line}: ```{info}" for line, info, _ in fenced_blocks(README.read_text(encoding="utf-8"))
        if info not in SHELL_BLOCKS + OTHER_BLOCKS
    ]
    assert not unknown, f"fenced blocks without a known language (tag shell commands ```bash): {unknown}"


def test_not_run_here_entries_match_a_readme_line():
    stale = [prefix for prefix in NOT_RUN_HERE if not any(command.text.startswith(prefix) for command in COMMANDS)]
    assert not stale, f"NOT_RUN_HERE entries that match no README command line (remove them): {stale}"


def test_the_rules_catch_drift():
    """The rules themselves: comments and continuations, and a line no rule knows fails."""
    commands = readme_commands("```bash\nmake a \\\n  B=1   # it's a comment\n# only a comment\n\nfoo 'x y'\n```\n")
    assert [(c.line, c.argv) for c in commands] == [(2, ("make", "a", "B=1")), (6, ("foo", "x y"))]
    with pytest.raises(AssertionError, match="no rule checks commands starting with 'foo'"):
        Runner(None, None, None).check(commands[1])  # type: ignore[arg-type]
    assert case_ids([Command(1, ("a", "b", "c", "d")), Command(2, ("a", "b", "c", "e"))]) == ["a b c d", "a b c e"]


@pytest.mark.parametrize("command", COMMANDS, ids=case_ids(COMMANDS))
def test_readme_command(command: Command, request, monkeypatch, capsys):
    reason = not_run_here(command)
    if reason is not None:
        pytest.skip(f"NOT_RUN_HERE: {reason}")
    Runner(request, monkeypatch, capsys).check(command)


if __name__ == "__main__":  # pragma: no cover - list the cases
    for command, case in zip(COMMANDS, case_ids(COMMANDS)):
        print(f"{case!r:60} {command}", file=sys.stdout)
