"""The language side: any Hugging Face causal LM, the `<image>` splice, prompts, LoRA and decoding settings.

Names load on first use, so light modules (``generation_config``) import without torch.
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "IMAGE_TOKEN": "slicevlm.llm.language_model",
    "LanguageModel": "slicevlm.llm.language_model",
    "LoraSettings": "slicevlm.llm.lora",
    "PROMPT_PREFIX": "slicevlm.llm.prompting",
    "GenerationConfig": "slicevlm.llm.generation_config",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'slicevlm.llm' has no attribute {name!r}")
