"""The language side: any Hugging Face causal LM, the `<image>` splice, prompts, LoRA and decoding settings.

Names load on first use, so light modules (``generation_config``) import without torch.
"""

from __future__ import annotations

from slicevlm.lazy_exports import lazy_exports

#: public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "IMAGE_TOKEN": "slicevlm.llm.language_model",
    "LanguageModel": "slicevlm.llm.language_model",
    "LoraSettings": "slicevlm.llm.lora",
    "PROMPT_PREFIX": "slicevlm.llm.prompting",
    "GenerationConfig": "slicevlm.llm.generation_config",
}
__all__ = list(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
