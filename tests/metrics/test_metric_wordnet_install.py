"""scripts/install_wordnet.sh (run against a stand-in source folder: no apt) and ensure_wordnet."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from slicevlm.metrics.resources import MissingResourceError, ensure_java, ensure_wordnet

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "install_wordnet.sh"
FILES = ["index.adj", "index.adv", "index.noun", "index.verb", "data.adj", "data.adv", "data.noun",
         "data.verb", "adj.exc", "adv.exc", "noun.exc", "verb.exc", "index.sense", "cntlist.rev"]


def test_install_script_copies_files_and_writes_lexnames(tmp_path: Path) -> None:
    source = tmp_path / "dict"
    source.mkdir()
    for name in FILES:
        (source / name).write_text(f"stand-in {name}\n", encoding="utf-8")
    target = tmp_path / "nltk_data"
    env = {**os.environ, "WORDNET_SRC": str(source)}
    subprocess.run(["bash", str(SCRIPT), str(target)], check=True, env=env, capture_output=True)
    wordnet = target / "corpora" / "wordnet"
    for name in FILES:
        copied = wordnet / name
        assert copied.is_file() and not copied.is_symlink()
        assert copied.read_text(encoding="utf-8") == f"stand-in {name}\n"
    lines = (wordnet / "lexnames").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 45
    assert lines[0] == "00\tadj.all\t3" and lines[3] == "03\tnoun.Tops\t1"
    assert lines[29] == "29\tverb.body\t2" and lines[44] == "44\tadj.ppl\t3"


def test_install_script_refuses_incomplete_source(tmp_path: Path) -> None:
    env = {**os.environ, "WORDNET_SRC": str(tmp_path)}
    result = subprocess.run(["bash", str(SCRIPT), str(tmp_path / "out")], env=env, capture_output=True, text=True)
    assert result.returncode == 1 and "lacks some of" in result.stderr


def test_missing_wordnet_and_java_are_clear_errors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import nltk

    import slicevlm.metrics.resources as resources

    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])
    monkeypatch.setattr(resources, "PROJECT_NLTK_DATA", tmp_path / "none")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MissingResourceError, match="make resources"):
        ensure_wordnet()
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MissingResourceError, match="openjdk-17-jre-headless"):
        ensure_java()
