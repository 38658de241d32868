"""The language side: any Hugging Face causal LM, the `<image>` splice, prompts and LoRA."""

from slicevlm.llm.language_model import IMAGE_TOKEN, LanguageModel
from slicevlm.llm.lora import LoraSettings
from slicevlm.llm.prompting import PROMPT_PREFIX

__all__ = ["IMAGE_TOKEN", "LanguageModel", "LoraSettings", "PROMPT_PREFIX"]
