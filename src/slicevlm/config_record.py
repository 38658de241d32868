"""Components remember how they were built, so a checkpoint folder can rebuild them without the Trainer.

A component calls `record_init_args(self, locals())` first thing in `__init__`. `describe(module)`
then returns `{"class_path": ..., "init_args": {...}}` — the same form LightningCLI configs use —
with nested components described recursively; `build(config)` turns such a dict back into objects.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from typing import Any


def record_init_args(obj: object, local_vars: dict[str, Any]) -> None:
    """Store the arguments of the running `__init__` on `obj` (call with `locals()`)."""
    parameters = inspect.signature(type(obj).__init__).parameters
    obj._init_args = {name: local_vars[name] for name in parameters if name != "self" and name in local_vars}


def describe(value: Any) -> Any:
    """A YAML-safe description of a value: components as class_path/init_args, dataclasses as dicts."""
    if hasattr(value, "_init_args"):
        cls = type(value)
        return {"class_path": f"{cls.__module__}.{cls.__qualname__}", "init_args": {k: describe(v) for k, v in value._init_args.items()}}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return describe(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {k: describe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [describe(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"Cannot describe a {type(value).__name__} in a config; record it as a plain value.")


def build(config: Any, trust: bool = True) -> Any:
    """Inverse of `describe`: instantiate every `{"class_path", "init_args"}` dict, innermost first.

    Args:
        config: the description.
        trust: False: every `class_path` must be on the allow-list of
            :mod:`slicevlm.trusted_classes`, checked before its module is imported (for configs
            that came with a checkpoint); True for configs the user wrote.

    Raises:
        UntrustedCheckpointError: `trust` is False and a `class_path` is not allowed.
        ValueError: a `class_path` cannot be imported, or names something that is not a class.
    """
    if isinstance(config, dict) and "class_path" in config:
        class_path = config["class_path"]
        if not trust:
            from slicevlm.trusted_classes import check_model_classes

            check_model_classes({"class_path": class_path}, "the model config")
        if not isinstance(class_path, str):
            raise ValueError(f"Config names class {class_path!r}; expected a dotted class path (a string)")
        module_name, _, class_name = class_path.rpartition(".")
        try:
            cls = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError, ValueError) as error:
            raise ValueError(f"Config names class {class_path!r}, which cannot be imported") from error
        if not isinstance(cls, type):
            raise ValueError(f"Config names {class_path!r}, which is not a class; `class_path` must name a class")
        return cls(**{k: build(v, trust) for k, v in config.get("init_args", {}).items()})
    if isinstance(config, dict):
        return {k: build(v, trust) for k, v in config.items()}
    if isinstance(config, list):
        return [build(v, trust) for v in config]
    return config
