"""The YAML configs shipped inside the package (``slicevlm/configs/``), read with importlib.resources.

A checkout's top-level ``configs/`` is a link to the same folder, so ``--config configs/stage2.yaml``
there and :func:`config_path` ("stage2.yaml") name one file. An installed package has no checkout:
code that needs a shipped config (``slicevlm reproduce``'s synthetic twin, ``--print-config``
style tools) asks this module for it instead of building a path from the source tree.
"""

from __future__ import annotations

import atexit
from contextlib import ExitStack
from importlib.resources import as_file, files
from importlib.resources.abc import Traversable
from pathlib import Path

from slicevlm.errors import MissingFileError

#: Files extracted from a zipped installation live until the process exits.
_EXTRACTED = ExitStack()
atexit.register(_EXTRACTED.close)


def shipped_configs() -> Traversable:
    """The package's config folder (``stage1.yaml``, ``demo.yaml``, ``ablations/``, ``baselines/``, ``single_gpu/``, ``strategy/``)."""
    return files("slicevlm") / "configs"


def config_path(name: str) -> Path:
    """A file on disk holding the shipped config ``name`` (``"demo.yaml"``, ``"ablations/spatial_only.yaml"``).

    Raises:
        MissingFileError: the package ships no such config.
    """
    resource = shipped_configs().joinpath(*name.split("/"))
    if not resource.is_file():
        available = sorted(p.name for p in shipped_configs().iterdir() if p.name.endswith(".yaml"))
        raise MissingFileError(f"no shipped config {name!r}; the package has {', '.join(available)} and the folders "
                               "ablations/, baselines/ (twin/ in it), single_gpu/, strategy/.")
    if isinstance(resource, Path):
        return resource
    return _EXTRACTED.enter_context(as_file(resource))


def main(argv: list[str] | None = None) -> int:
    """``slicevlm configs [NAME ...]``: print the shipped config folder, or the file of each NAME.

    For an installed package, where no ``configs/`` folder sits in the working directory::

        lightning-cli fit --config "$(slicevlm configs demo.yaml)"
    """
    from jsonargparse import ArgumentParser

    from slicevlm.command_line import help_formatter

    # built by hand: NAME may be left out, which a typed function's positional cannot express
    parser = ArgumentParser(prog="slicevlm configs", description=main.__doc__, formatter_class=help_formatter())
    parser.add_argument("names", nargs="*", default=[], metavar="NAME", help="a shipped config, e.g. demo.yaml or ablations/no_injection.yaml")
    args = parser.parse_args(argv)
    if not args.names:
        folder = shipped_configs()
        if not isinstance(folder, Path):
            raise MissingFileError("the package is installed zipped: its configs have no folder on disk; name a config instead.")
        print(folder)
        return 0
    for name in args.names:
        print(config_path(name))
    return 0
