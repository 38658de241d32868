"""A package's public names, imported from their modules on first use (PEP 562 module ``__getattr__``).

A package lists ``name -> defining module`` once and sets ``__getattr__ = lazy_exports(__name__, _EXPORTS)``:
``from slicevlm.data import M3DDataModule`` then imports Lightning, while ``import slicevlm.data``
alone imports nothing heavy.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """The module ``__getattr__`` of ``package`` that imports each name in ``exports`` from its module.

    Args:
        package: The package's ``__name__`` (named in the AttributeError of an unknown name).
        exports: Public name -> the module that defines it.
    """

    def __getattr__(name: str) -> Any:
        if name in exports:
            return getattr(importlib.import_module(exports[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
