"""External resources the metrics need: WordNet (nltk METEOR) and Java (pycocoevalcap).

Neither is fetched at run time: a missing one is a :class:`MissingResourceError` that
says what to install. WordNet comes from Debian through ``scripts/install_wordnet.sh`` (``make
resources``) into ``$NLTK_DATA/corpora/wordnet``; the project's default ``NLTK_DATA`` is
``.cache/nltk_data`` at the repository root, which is searched even when the variable is unset.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from slicevlm.errors import SliceVLMError

#: ``<repo root>/.cache/nltk_data`` for a source checkout (``src/slicevlm/metrics/resources.py``).
PROJECT_NLTK_DATA = Path(__file__).resolve().parents[3] / ".cache" / "nltk_data"

_WORDNET_HINT = (
    "Install it with `make resources` (runs scripts/install_wordnet.sh: Debian packages "
    "wordnet-base + wordnet-sense-index copied into $NLTK_DATA/corpora/wordnet) and export "
    "NLTK_DATA to that folder (default: .cache/nltk_data at the repository root)."
)


class MissingResourceError(SliceVLMError, RuntimeError):
    """A data file or program a metric needs is not installed."""


def _candidate_nltk_dirs() -> list[Path]:
    dirs = [PROJECT_NLTK_DATA, Path.cwd() / ".cache" / "nltk_data"]
    return [d for d in dirs if d.is_dir()]


def ensure_wordnet() -> Path:
    """Make WordNet 3.0 loadable by nltk and return its folder.

    Adds the project's ``.cache/nltk_data`` to ``nltk.data.path`` when WordNet is not found on
    nltk's own search path (``$NLTK_DATA``, ``~/nltk_data``, ...).

    Returns:
        The ``corpora/wordnet`` folder nltk will read.

    Raises:
        MissingResourceError: when no WordNet is installed, or it lacks ``lexnames``.
    """
    import nltk

    def find() -> Path | None:
        try:
            return Path(str(nltk.data.find("corpora/wordnet")))
        except LookupError:
            return None

    found = find()
    if found is None:
        for directory in _candidate_nltk_dirs():
            if str(directory) not in nltk.data.path:
                nltk.data.path.append(str(directory))
        found = find()
    if found is None:
        searched = ", ".join(nltk.data.path)
        raise MissingResourceError(
            f"WordNet (needed by nltk METEOR) was not found under any of: {searched}. {_WORDNET_HINT}"
        )
    if found.is_dir() and not (found / "lexnames").is_file():
        raise MissingResourceError(
            f"WordNet folder {found} has no 'lexnames' file, which nltk's reader needs. "
            f"{_WORDNET_HINT}"
        )
    return found


def ensure_java() -> str:
    """Return the ``java`` executable pycocoevalcap will run.

    Raises:
        MissingResourceError: when ``java`` is not on PATH.
    """
    java = shutil.which("java")
    if java is None:
        raise MissingResourceError(
            "The coco protocol runs Java (PTB tokenizer, METEOR 1.5 jar) but `java` is not on "
            f"PATH={os.environ.get('PATH', '')!r}. Install a JRE, e.g. "
            "`apt-get install -y openjdk-17-jre-headless`, or score with --protocol m3d."
        )
    return java
