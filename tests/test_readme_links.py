"""Every relative link and image in README.md and docs/*.md reaches a file, and a heading where it names one.

A link such as ``[Limits](docs/serving.md#limits)`` must point to a file that exists (relative to the
page that holds it), and its ``#anchor`` must be the anchor GitHub gives one of that page's headings:
lowercase, punctuation other than ``-`` and ``_`` dropped, spaces turned into ``-``, and ``-1``, ``-2``
... added to repeated headings. Links to other sites (``https:``, ``mailto:``) are not checked. Plain
file reads, no imports of the package.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

#: An inline link or image: ``[text](target)`` or ``![alt](target "title")``.
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
#: A fenced code block's opening or closing line.
FENCE = re.compile(r"^\s*(```|~~~)")
#: An inline code span.
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
#: An ATX heading.
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")


def pages() -> list[Path]:
    """The documents whose links are checked: the README and every page under docs/."""
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def prose_lines(markdown: str) -> list[tuple[int, str]]:
    """(line number, line) for each line outside fenced code blocks."""
    lines, fenced = [], False
    for number, line in enumerate(markdown.splitlines(), start=1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, line))
    return lines


def github_anchor(title: str) -> str:
    """GitHub's anchor for a heading's text (links reduced to their text, markup and punctuation dropped)."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", title)
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def heading_anchors(markdown: str) -> set[str]:
    """Every anchor a page's headings give, repeated titles numbered as GitHub numbers them."""
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    for _, line in prose_lines(markdown):
        match = HEADING.match(line)
        if not match:
            continue
        anchor = github_anchor(match.group(2))
        count = seen.get(anchor, 0)
        seen[anchor] = count + 1
        anchors.add(anchor if count == 0 else f"{anchor}-{count}")
    return anchors


def links(markdown: str) -> list[tuple[int, str]]:
    """(line number, target) of every inline link and image outside code."""
    found = []
    for number, line in prose_lines(markdown):
        for match in LINK.finditer(CODE_SPAN.sub("", line)):
            found.append((number, match.group(1)))
    return found


def broken_links(page: Path, root: Path = REPO) -> list[str]:
    """A message for each relative link of `page` whose file or heading does not exist (named from `root`)."""
    broken = []
    for number, target in links(page.read_text(encoding="utf-8")):
        if not target or re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):
            continue  # another site, a mail address
        path_part, _, anchor = target.partition("#")
        where = f"{page.relative_to(root).as_posix()}:{number}: {target}"
        linked = (page.parent / path_part).resolve() if path_part else page
        if not linked.exists():
            broken.append(f"{where}: no such file")
            continue
        if anchor and linked.suffix == ".md" and anchor not in heading_anchors(linked.read_text(encoding="utf-8")):
            broken.append(f"{where}: {linked.name} has no heading with the anchor #{anchor}")
    return broken


def test_the_readme_links_the_docs_pages() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    linked = {target.partition("#")[0] for _, target in links(readme)}
    unlinked = [p.relative_to(REPO).as_posix() for p in pages()[1:] if p.relative_to(REPO).as_posix() not in linked]
    assert not unlinked, f"docs pages the README does not link: {unlinked}"
    assert "docs/screenshot.png" in linked


@pytest.mark.parametrize("page", pages(), ids=lambda p: p.relative_to(REPO).as_posix())
def test_relative_links_reach_a_file_and_a_heading(page: Path) -> None:
    broken = broken_links(page)
    assert not broken, "links that point nowhere:\n" + "\n".join(broken)


@pytest.mark.parametrize(
    ("title", "anchor"),
    [("Resuming and scaling out", "resuming-and-scaling-out"),
     ("Parity of the `m3d` numbers with the peers' scoring code", "parity-of-the-m3d-numbers-with-the-peers-scoring-code"),
     ("Image-reliance controls: does the model read the image?", "image-reliance-controls-does-the-model-read-the-image"),
     ("Toy models, small models and the research-use notice", "toy-models-small-models-and-the-research-use-notice"),
     ("k-bit loading", "k-bit-loading"), ("ZeRO-3", "zero-3")],
)
def test_anchors_follow_githubs_rule(title: str, anchor: str) -> None:
    assert github_anchor(title) == anchor


def test_a_broken_link_is_caught(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "page.md").write_text("# A page\n\n## Some section\n", encoding="utf-8")
    page = tmp_path / "README.md"
    page.write_text("[ok](docs/page.md#some-section) [gone](docs/missing.md) [bad](docs/page.md#no-section)\n"
                    "`[in code](docs/nowhere.md)`\n\n```\n[fenced](docs/nowhere.md)\n```\n"
                    "[site](https://example.org/x#y) ![img](docs/page.md)\n", encoding="utf-8")
    broken = broken_links(page, root=tmp_path)
    assert len(broken) == 2 and "missing.md: no such file" in broken[0] and "#no-section" in broken[1], broken
