"""The tiny stand-in for LLaMA-2: a LLaMA-architecture causal LM with a byte-level BPE tokenizer
trained on the fly, warmed up on text (`reading.py`) and saved with `save_pretrained`."""

from __future__ import annotations

from dataclasses import dataclass
import math
from pathlib import Path

import torch

from slicevlm.llm.language_model import IMAGE_TOKEN
from slicevlm.tiny.reading import CHOICES_MARK, WARMUP_SEED, card_pairs, lookup_pairs

#: Words of the synthetic reports and questions; tokenizers of the tiny models are trained on them.
CORPUS_WORDS = """
the liver spleen kidney kidneys lung lungs bladder pancreas gallbladder aorta vessel organ lesion lesions
cyst calcification mass nodule tumor hypodense hyperdense enhancing non-contrast arterial portal venous
delayed phase axial coronal sagittal plane left right upper lower anterior posterior location abnormality
findings impression there is are no a an of in with within and or seen noted measuring small large round
what which where is this image scan ct mri volume question answer choices a. b. c. d. report describe
normal abnormal size shape contrast density dark bright textured well defined margin the of study
""".split()


def corpus_sentences() -> list[str]:
    """Overlapping 12-word runs of :data:`CORPUS_WORDS`: the sentences the tiny tokenizers are trained on."""
    return [" ".join(CORPUS_WORDS[i : i + 12]) for i in range(0, len(CORPUS_WORDS), 3)]


def train_tiny_tokenizer(vocab_size: int = 512):
    """A byte-level BPE tokenizer with <s>, </s>, <unk>, <pad>; adds BOS like LLaMA's."""
    from slicevlm.llm.byte_level import train_byte_level_tokenizer

    sentences = corpus_sentences() * 20
    sentences += [f"{prompt} {answer}" for prompt, answer in card_pairs(200)]
    return train_byte_level_tokenizer(sentences, vocab_size)


@dataclass
class WarmupRow:
    """One tokenised warm-up row.

    Attributes:
        ids: prompt (with BOS) + answer + EOS.
        labels: −100 on the prompt, the answer ids after it.
        hidden: for a closed row, the positions ``[start, stop)`` of the choice list that may not
            look at the facts ``[1, facts_end)``: ``(facts_end, start, stop)``; None otherwise.
    """

    ids: list[int]
    labels: list[int]
    hidden: tuple[int, int, int] | None


def _token_count(tokenizer, text: str) -> int:
    return len(tokenizer(text)["input_ids"])


def _warmup_rows(tokenizer, pairs: list[tuple[str, str]]) -> list[WarmupRow]:
    """Rows tokenised as training rows are (prompt + answer + EOS, loss on the answer).

    In a closed row the choice list cannot see the facts; only the prompt's last token (which
    writes the letter) and the answer can. So the LLM learns to read the answer from what precedes
    the prompt and then find it among the choices, the path a visual prefix can take too, and not
    to match each choice word against a fact written in the same words.
    """
    from slicevlm.llm.prompting import IGNORE_INDEX, PROMPT_PREFIX

    suffix = PROMPT_PREFIX.replace(IMAGE_TOKEN, "")
    rows = []
    for prompt, answer in pairs:
        prompt_ids = tokenizer(prompt)["input_ids"]
        answer_ids = tokenizer(answer.strip(), add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        hidden = None
        if CHOICES_MARK in prompt:
            facts = prompt.index(suffix) if suffix in prompt else prompt.index(CHOICES_MARK)
            start = _token_count(tokenizer, prompt[: prompt.index(CHOICES_MARK)])
            hidden = (_token_count(tokenizer, prompt[:facts]), start, len(prompt_ids) - 1)
        rows.append(WarmupRow(prompt_ids + answer_ids, [IGNORE_INDEX] * len(prompt_ids) + answer_ids, hidden))
    return rows


def _attention_mask(rows: list[WarmupRow], width: int, blind_choices: bool = True) -> torch.Tensor:
    """(B, 1, L, L) boolean mask: causal, no padding keys and, with `blind_choices`, closed rows'
    choice lists blind to the facts."""
    causal = torch.tril(torch.ones(width, width, dtype=torch.bool))
    masks = []
    for row in rows:
        mask = causal.clone()
        mask[:, len(row.ids) :] = False  # padding keys
        if blind_choices and row.hidden is not None:
            facts_end, start, stop = row.hidden
            mask[start:stop, 1:facts_end] = False
        masks.append(mask)
    return torch.stack(masks)[:, None]


def pretrain_tiny_llm(
    model,
    tokenizer,
    steps: int,
    batch_size: int = 32,
    learning_rate: float = 3e-3,
    lookup_share: float = 0.0,
    seed: int = 0,
    choice_order: str = "fixed",
    blind_choices: bool = True,
) -> float:
    """Warm-up: `steps` AdamW steps (linear warm-up, cosine decay), each on `batch_size` rows of which
    a `lookup_share` are choice-lookup rows and the rest case-card rows (closed choices in
    `choice_order`). Next-token loss on the answers. The two kinds are padded separately (lookup
    rows are short). Lookup rows matter only for shuffled choices (see `reading.py`).

    `blind_choices` hides the facts from a closed row's choice list (only the letter-writing position
    sees both: the tiny twin's default). Without it the choice words may be matched against the facts
    directly, the path a pretrained LLM learns first (its choice tokens can also look at visual tokens).

    Returns:
        The mean loss over the last 10 steps.
    """
    from slicevlm.llm.prompting import IGNORE_INDEX, pad_rows

    lookup_rows = round(lookup_share * batch_size)
    pairs_per_case = 11  # a report request, then five questions both closed and open
    n_cases = max(200, steps * (batch_size - lookup_rows) // pairs_per_case)
    cards = _warmup_rows(tokenizer, card_pairs(n_cases, seed=WARMUP_SEED, choice_order=choice_order))
    lookups = _warmup_rows(tokenizer, lookup_pairs(max(2000, steps * lookup_rows), seed=WARMUP_SEED)) if lookup_rows else []
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=learning_rate, weight_decay=0.0)
    warmup = max(1, steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * step / steps)))
    model.train()
    losses = []
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for rows, count in ((lookups, lookup_rows), (cards, batch_size - lookup_rows)):
            if count == 0:
                continue
            picked = [rows[i] for i in torch.randint(len(rows), (count,), generator=generator).tolist()]
            input_ids = pad_rows([row.ids for row in picked], tokenizer.pad_token_id, left=False)
            labels = pad_rows([row.labels for row in picked], IGNORE_INDEX, left=False)
            mask = _attention_mask(picked, input_ids.shape[1], blind_choices)
            loss = model(input_ids=input_ids, attention_mask=mask, labels=labels).loss * (count / batch_size)
            loss.backward()
            total += loss.item()
        optimizer.step()
        schedule.step()
        losses.append(total)
    model.eval()
    tail = losses[-10:]
    return sum(tail) / max(1, len(tail))


def write_tiny_llm(
    folder: Path,
    hidden_size: int = 64,
    layers: int = 2,
    heads: int = 4,
    seed: int = 0,
    pretrain_steps: int = 400,
    choice_order: str = "fixed",
    lookup_share: float = 0.0,
) -> Path:
    """A LLaMA-architecture causal LM plus tokenizer, saved with `save_pretrained`, after
    `pretrain_steps` warm-up steps (0: random weights; see `pretrain_tiny_llm`)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tiny_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads // 2,
        max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    if pretrain_steps > 0:
        loss = pretrain_tiny_llm(model, tokenizer, pretrain_steps, seed=seed, lookup_share=lookup_share, choice_order=choice_order)
        print(f"tiny LLM warm-up on case cards: {pretrain_steps} steps, final loss {loss:.3f}", flush=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
