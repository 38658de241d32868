"""The project's own text speaks of the project alone.

Docstrings, help texts, comments, configs and documents must not send a reader to documents that
do not ship with the project (a design specification, its section signs, a shared folder outside
the repository, a tracker's issue numbers). The method, its defaults and the decisions taken where
the paper is ambiguous are written down in ``docs/method.md``. Plain file reads, no imports.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: Folders and files that make up the project's text (tests are code about the project, not for users).
PROJECT_TEXT = ("src", "lightning_app", "configs", "docs", "README.md", "BENCHMARKS.md", "data/README.md",
                "Makefile", "CITATION.cff")
#: Suffixes that are never text.
BINARY_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".npy", ".safetensors", ".pt", ".ckpt", ".gz", ".zip", ".pyc"}
#: What a self-contained text never says, and why.
FORBIDDEN: dict[str, re.Pattern[str]] = {
    "a design-specification reference": re.compile(r"\bSPEC\b"),
    "a section sign (write 'section \"...\"' or link a heading)": re.compile("§"),
    "a path outside the repository": re.compile(r"\.\./shared"),
    "a tracker issue number": re.compile(r"\bissues? #?\d+", re.IGNORECASE),
}


def project_files() -> list[Path]:
    """Every text file of the project's own text (skipping caches and binaries)."""
    files: list[Path] = []
    for name in PROJECT_TEXT:
        path = REPO / name
        candidates = sorted(path.rglob("*")) if path.is_dir() else [path]
        files += [p for p in candidates if p.is_file() and p.suffix.lower() not in BINARY_SUFFIXES
                  and "__pycache__" not in p.parts and not any(part.endswith(".egg-info") for part in p.parts)]
    return files


def violations(text: str) -> list[tuple[int, str, str]]:
    """(line number, what, the line) for each forbidden phrase in `text`."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        for what, pattern in FORBIDDEN.items():
            if pattern.search(line):
                found.append((number, what, line.strip()))
    return found


def test_the_scan_covers_the_project_text() -> None:
    names = {p.relative_to(REPO).as_posix() for p in project_files()}
    assert {"README.md", "BENCHMARKS.md", "docs/method.md", "docs/training.md", "docs/serving.md",
            "src/slicevlm/reproduction/command.py", "configs/stage1.yaml", "Makefile", "lightning_app/server.py"} <= names
    assert {p.relative_to(REPO).as_posix() for p in (REPO / "docs").glob("*.md")} <= names


@pytest.mark.parametrize(
    "line",
    ["see SPEC §4", "as ../shared/SPEC.md says", "the target of issue 6", "Issue 12 asks for", "paper § Methods"],
)
def test_each_forbidden_phrase_is_caught(line: str) -> None:
    assert violations(line), line


@pytest.mark.parametrize("line", ["SPECIAL_TOKENS = ()", "class BertScoreSpec:", "a known issue of the M3D release",
                                  "issues: 3 bad rows", "see docs/method.md, 'Evaluation protocols'"])
def test_ordinary_text_passes(line: str) -> None:
    assert not violations(line), line


def test_project_text_stands_alone() -> None:
    report = []
    for path in project_files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # a binary file with a text-like suffix
        report += [f"{path.relative_to(REPO)}:{n}: {what}: {line}" for n, what, line in violations(text)]
    assert not report, "project text cites documents that do not ship with it:\n" + "\n".join(report)


def heading_anchors(markdown: str) -> set[str]:
    """GitHub's anchors for the headings of a markdown document (lowercase, punctuation dropped, spaces → -)."""
    anchors = set()
    for line in markdown.splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return anchors


def test_links_into_the_method_notes_name_existing_sections() -> None:
    anchors = heading_anchors((REPO / "docs" / "method.md").read_text(encoding="utf-8"))
    assert {"slice-selection", "the-papers-numbers", "spatial-frequency-fusion"} <= anchors
    broken = []
    for path in project_files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        broken += [f"{path.relative_to(REPO)}: #{a}" for a in re.findall(r"method\.md#([\w-]+)", text) if a not in anchors]
    assert not broken, "links to sections docs/method.md does not have:\n" + "\n".join(broken)
