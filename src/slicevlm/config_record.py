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


def build(config: Any) -> Any:
    """Inverse of `describe`: instantiate every `{"class_path", "init_args"}` dict, innermost first."""
    if isinstance(config, dict) and "class_path" in config:
        module_name, _, class_name = config["class_path"].rpartition(".")
        try:
            cls = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as error:
            raise ValueError(f"Config names class {config['class_path']!r}, which cannot be imported") from error
        return cls(**{k: build(v) for k, v in config.get("init_args", {}).items()})
    if isinstance(config, dict):
        return {k: build(v) for k, v in config.items()}
    if isinstance(config, list):
        return [build(v) for v in config]
    return config
