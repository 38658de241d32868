"""Fast greedy decoding: a decode loop we own over a static KV cache, replayed as a CUDA graph.

Measured speed anchors for this design: docs/method.md#speed-anchors.

Hugging Face `generate` re-enters Python, rebuilds masks and grows a dynamic cache on every token,
which costs ~4× the weight-read floor per token on an H100. Here the loop is ours:

    prefill (eager)      inputs_embeds (B, L, d), 4D mask (B, 1, L, C) ──▶ KV cache columns [0, L)
    decode step × T      token (B, 1) ──embed──▶ LLM ──▶ argmax ──▶ token; KV written at column L + t

The decode step reads and writes only static buffers (token, positions, write column, mask, done
flags, output tokens), so on CUDA it is captured once per (batch, capacity) shape with
`torch.cuda.graph` and replayed; per-row stopping runs inside the graph (rows that emitted EOS
emit pad from then on), and the host only reads the "all done" flag.

Transformers' `StaticCache` layers write at their own counter (`cumulative_length`), not at a
position we pass. The step therefore begins by copying our write column into every layer's counter:
warm-up runs and capture cannot leave the counter out of step with the graph. Masks are built
here as 4D tensors (HF returns a prepared 4D mask as is), positions follow HF's rule for left
padding (cumsum of the mask − 1), so greedy tokens equal `generate(do_sample=False)`'s.

Works with any full-attention HF causal LM (LLaMA family), plain, LoRA-wrapped (peft) or merged,
with `attn_implementation` "sdpa" or "eager".
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, fields

import torch
from torch import nn

EosIds = int | Sequence[int] | None
_SUPPORTED_ATTENTION = ("sdpa", "eager")


@dataclass
class _DecodeState:
    """Static buffers for one (batch, capacity) shape; the CUDA graph reads and writes only these."""

    cache: object  # transformers.StaticCache with `capacity` columns
    token: torch.Tensor  # (B, 1) last chosen token
    position: torch.Tensor  # (B, 1) rotary position of `token`
    write_column: torch.Tensor  # () cache column `token`'s keys and values go to
    mask: torch.Tensor  # (B, 1, 1, C) bool (sdpa) or additive float (eager): which columns are visible
    done: torch.Tensor  # (B,) rows that have emitted EOS
    step: torch.Tensor  # () index of the next output column
    tokens: torch.Tensor  # (B, C) output tokens; columns [0, step) are valid
    eos: torch.Tensor  # (E,) end-of-sequence ids on the device
    graph: torch.cuda.CUDAGraph | None = None

    def snapshot(self) -> dict[str, torch.Tensor]:
        """Clones of the small buffers (not the cache), to undo warm-up runs."""
        return {f.name: getattr(self, f.name).clone() for f in fields(self) if f.name not in ("cache", "graph", "eos")}

    def restore(self, saved: dict[str, torch.Tensor]) -> None:
        for name, value in saved.items():
            getattr(self, name).copy_(value)


def _causal_lm_config(causal_lm: nn.Module):
    config = causal_lm.config
    return config.get_text_config(decoder=True) if hasattr(config, "get_text_config") else config


class GreedyDecoder:
    """Greedy generation from spliced embeddings with a static cache and (on CUDA) a replayed decode graph.

    One decoder serves many calls: buffers and graphs are kept per (batch, capacity) shape, capacity
    being prompt length + new tokens rounded up to `capacity_multiple`, so prompts of different
    lengths reuse one graph.

    Args:
        causal_lm: a Hugging Face causal LM (may be a peft model), in eval mode.
        eos_token_id: id(s) that end a row; None never stops early (benchmarks).
        pad_token_id: emitted by rows that have finished.
        use_cuda_graph: capture the decode step; None = on CUDA devices.
        compile_mode: also `torch.compile` the step with this mode before capture (e.g. "default" or
            "max-autotune-no-cudagraphs"); None = eager kernels.
        capacity_multiple: cache columns are rounded up to a multiple of this.
        max_shapes: how many (batch, capacity) shapes keep their buffers and graphs (each holds a KV cache).
    """

    def __init__(
        self,
        causal_lm: nn.Module,
        eos_token_id: EosIds,
        pad_token_id: int,
        use_cuda_graph: bool | None = None,
        compile_mode: str | None = None,
        capacity_multiple: int = 128,
        max_shapes: int = 2,
    ) -> None:
        config = _causal_lm_config(causal_lm)
        attention = getattr(config, "_attn_implementation", "sdpa") or "sdpa"
        if attention not in _SUPPORTED_ATTENTION:
            raise ValueError(
                f"The fast decoder needs attn_implementation in {_SUPPORTED_ATTENTION}, got {attention!r}; "
                "set model.language.attn_implementation: sdpa, or use engine='hf'."
            )
        self.model = causal_lm
        self.config = config
        self.additive_mask = attention == "eager"
        eos = [] if eos_token_id is None else [eos_token_id] if isinstance(eos_token_id, int) else list(eos_token_id)
        self.eos = torch.tensor(eos, dtype=torch.long)
        self.pad_token_id = int(pad_token_id)
        self.use_cuda_graph = use_cuda_graph
        self.capacity_multiple = capacity_multiple
        self.max_shapes = max_shapes
        self._states: OrderedDict[tuple, _DecodeState] = OrderedDict()
        self._step = torch.compile(self._decode_step, mode=compile_mode) if compile_mode else self._decode_step

    # -- masks ------------------------------------------------------------------------------------
    def _mask_values(self, allowed: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """Boolean "may attend" -> the mask the attention implementation expects (bool or additive)."""
        if not self.additive_mask:
            return allowed
        return torch.zeros(allowed.shape, dtype=dtype, device=allowed.device).masked_fill_(~allowed, torch.finfo(dtype).min)

    @property
    def _visible(self) -> bool | float:
        """The mask value that makes a column visible."""
        return 0.0 if self.additive_mask else True

    # -- state ------------------------------------------------------------------------------------
    def _new_state(self, batch: int, capacity: int, device: torch.device, dtype: torch.dtype) -> _DecodeState:
        from transformers import StaticCache

        cache = StaticCache(config=self.config, max_cache_len=capacity)
        if not all(hasattr(layer, "cumulative_length") and not getattr(layer, "is_sliding", False) for layer in cache.layers):
            raise ValueError(
                "The fast decoder supports full-attention models whose static cache layers keep a "
                "`cumulative_length` counter (LLaMA family); use engine='hf' for this model."
            )
        long = {"dtype": torch.long, "device": device}
        return _DecodeState(
            cache=cache,
            token=torch.zeros(batch, 1, **long),
            position=torch.zeros(batch, 1, **long),
            write_column=torch.zeros((), **long),
            mask=self._mask_values(torch.zeros(batch, 1, 1, capacity, dtype=torch.bool, device=device), dtype),
            done=torch.zeros(batch, dtype=torch.bool, device=device),
            step=torch.zeros((), **long),
            tokens=torch.full((batch, capacity), self.pad_token_id, **long),
            eos=self.eos.to(device),
        )

    def _state_for(self, batch: int, capacity: int, device: torch.device, dtype: torch.dtype) -> _DecodeState:
        # Buffers made under inference_mode cannot be updated in place outside it (Lightning tests and
        # predicts under inference_mode, validates under no_grad or inference_mode): one state per mode.
        key = (batch, capacity, str(device), dtype, torch.is_inference_mode_enabled())
        if key in self._states:
            self._states.move_to_end(key)
            return self._states[key]
        while len(self._states) >= self.max_shapes:
            self._states.popitem(last=False)
        self._states[key] = state = self._new_state(batch, capacity, device, dtype)
        return state

    def _set_cache_column(self, state: _DecodeState, column: torch.Tensor | int) -> None:
        """Point every cache layer's write counter at `column`.

        A transformers 5 static cache layer writes at its own counter, not at the `cache_position`
        passed in, so a replayed graph must rewind that counter or it writes out of bounds.
        """
        for layer in state.cache.layers:
            if torch.is_tensor(column):
                layer.cumulative_length.copy_(column)
            else:
                layer.cumulative_length.fill_(column)

    # -- model calls ------------------------------------------------------------------------------
    def _forward_last_logits(self, state: _DecodeState, embeds: torch.Tensor, mask: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
        """One LLM forward over the static cache; logits of the last position only, (B, V)."""
        output = self.model(
            inputs_embeds=embeds,
            attention_mask=mask,
            position_ids=position,
            past_key_values=state.cache,
            use_cache=True,
            logits_to_keep=1,
        )
        return output.logits[:, -1]

    def _choose(self, state: _DecodeState, logits: torch.Tensor) -> None:
        """Greedy pick with per-row stopping; writes output column `step` and advances it (all on device)."""
        chosen = logits.argmax(dim=-1)  # (B,)
        chosen = torch.where(state.done, torch.full_like(chosen, self.pad_token_id), chosen)
        state.tokens.index_copy_(1, state.step.view(1), chosen.unsqueeze(1))
        if state.eos.numel():
            state.done.logical_or_(torch.isin(chosen, state.eos))
        state.token.copy_(chosen.unsqueeze(1))
        state.step.add_(1)

    def _decode_step(self, state: _DecodeState) -> None:
        """Feed `state.token` at `state.write_column`, choose the next token. Static buffers only: capturable."""
        self._set_cache_column(state, state.write_column)  # the layers write at their own counter
        state.mask.index_fill_(-1, state.write_column.view(1), self._visible)  # the new column sees itself
        embeds = self.model.get_input_embeddings()(state.token)  # (B, 1, d)
        logits = self._forward_last_logits(state, embeds, state.mask, state.position)
        self._choose(state, logits)
        state.position.add_(1)
        state.write_column.add_(1)

    def _prefill(self, state: _DecodeState, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor) -> None:
        """Run the prompt, fill cache columns [0, L), choose the first token, prepare the decode buffers."""
        batch, length = attention_mask.shape
        capacity = state.tokens.shape[1]
        device = inputs_embeds.device
        valid = torch.zeros(batch, capacity, dtype=torch.bool, device=device)
        valid[:, :length] = attention_mask.bool()
        columns = torch.arange(capacity, device=device)
        rows = torch.arange(length, device=device).unsqueeze(1)  # (L, 1)
        # A padding query sees only itself, so no attention row is empty (an empty row gives NaN).
        allowed = (valid.unsqueeze(1) & (columns <= rows)) | (columns == rows)  # (B, L, C)
        position = (attention_mask.long().cumsum(-1) - 1).masked_fill(attention_mask == 0, 0)  # (B, L), HF's rule
        self._set_cache_column(state, 0)
        logits = self._forward_last_logits(state, inputs_embeds, self._mask_values(allowed.unsqueeze(1), inputs_embeds.dtype), position)
        state.mask.copy_(self._mask_values(valid.view(batch, 1, 1, capacity), inputs_embeds.dtype))
        state.position.copy_(position[:, -1:] + 1)
        state.write_column.fill_(length)
        state.done.zero_()
        state.step.zero_()
        state.tokens.fill_(self.pad_token_id)
        self._choose(state, logits)

    def _capture(self, state: _DecodeState) -> None:
        """Warm the step up on a side stream, capture it, and undo what the warm-up changed."""
        saved = state.snapshot()
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(3):  # allocator, cuBLAS workspaces, compilation
                self._step(state)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self._step(state)
        state.restore(saved)  # keys/values the warm-up wrote are beyond the mask and rewritten before use
        state.graph = graph

    # -- public -----------------------------------------------------------------------------------
    @torch.no_grad()
    def __call__(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor, max_new_tokens: int) -> torch.Tensor:
        """Greedy new tokens for a left-padded batch.

        Args:
            inputs_embeds: (B, L, d) prompt embeddings (visual tokens already spliced), left-padded.
            attention_mask: (B, L), 1 on real positions.
            max_new_tokens: at most this many tokens per row (≥ 1).

        Returns:
            (B, T) new token ids, T ≤ max_new_tokens: the loop stops once every row has emitted EOS;
            a finished row holds pad after its EOS (as Hugging Face `generate` returns them).
        """
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be ≥ 1, got {max_new_tokens}")
        batch, length = attention_mask.shape
        if inputs_embeds.shape[:2] != (batch, length):
            raise ValueError(f"inputs_embeds {tuple(inputs_embeds.shape)} does not match attention_mask {tuple(attention_mask.shape)}")
        if not bool(attention_mask[:, -1].all()):
            raise ValueError("The batch must be left-padded (every row's last column real); see llm.prompting.generation_batch.")
        multiple = self.capacity_multiple
        capacity = -(-(length + max_new_tokens) // multiple) * multiple
        device = inputs_embeds.device
        state = self._state_for(batch, capacity, device, inputs_embeds.dtype)
        self._prefill(state, inputs_embeds, attention_mask.to(device))
        use_graph = device.type == "cuda" if self.use_cuda_graph is None else self.use_cuda_graph
        if use_graph and state.graph is None and max_new_tokens > 1:
            self._capture(state)
        stoppable = state.eos.numel() > 0  # without EOS ids the host never waits for the GPU inside the loop
        steps = 1
        while steps < max_new_tokens and not (stoppable and bool(state.done.all())):
            state.graph.replay() if use_graph else self._step(state)
            steps += 1
        return state.tokens[:, :steps].clone()


def greedy_generate(
    causal_lm: nn.Module,
    inputs_embeds: torch.Tensor,
    attention_mask: torch.Tensor,
    max_new_tokens: int,
    eos_token_id: EosIds,
    pad_token_id: int,
    use_cuda_graph: bool | None = None,
) -> torch.Tensor:
    """Greedy new tokens (B, T) with the fast decoder, reusing one decoder (and its graphs) per model.

    Same tokens as `causal_lm.generate(inputs_embeds=..., attention_mask=..., do_sample=False)`.
    See `GreedyDecoder` for the arguments.
    """
    key = (tuple([eos_token_id] if isinstance(eos_token_id, int) or eos_token_id is None else eos_token_id), pad_token_id, use_cuda_graph)
    decoder = causal_lm.__dict__.get("_slicevlm_greedy_decoder")
    if decoder is None or decoder[0] != key:
        decoder = (key, GreedyDecoder(causal_lm, eos_token_id, pad_token_id, use_cuda_graph))
        causal_lm.__dict__["_slicevlm_greedy_decoder"] = decoder  # plain attribute, not a submodule
    return decoder[1](inputs_embeds, attention_mask, max_new_tokens)
