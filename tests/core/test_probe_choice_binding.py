"""scripts/probe_choice_binding.py and the warm-up's choice-list mask it switches."""

from __future__ import annotations

import torch

from slicevlm.tiny.language import _attention_mask, _warmup_rows, train_tiny_tokenizer
from slicevlm.tiny.reading import lookup_pairs


def test_blind_choices_hide_the_stated_fact_from_the_choice_list_only() -> None:
    tokenizer = train_tiny_tokenizer()
    rows = _warmup_rows(tokenizer, lookup_pairs(1))
    facts_end, start, stop = rows[0].hidden
    width = len(rows[0].ids)
    causal = torch.tril(torch.ones(width, width, dtype=torch.bool))
    blind = _attention_mask(rows, width, blind_choices=True)[0, 0]
    seeing = _attention_mask(rows, width, blind_choices=False)[0, 0]
    assert torch.equal(seeing, causal)
    assert not blind[start:stop, 1:facts_end].any()
    # Everything else stays causal: the letter-writing position (the prompt's last) sees the fact.
    outside = causal.clone()
    outside[start:stop, 1:facts_end] = False
    assert torch.equal(blind, outside) and blind[stop, 1:facts_end].all()


def test_the_probe_prints_the_letter_accuracy_after_each_chunk(tiny_models, capsys, load_script) -> None:
    script = load_script("probe_choice_binding")
    code = script.main(["--model-name", str(tiny_models["llm"]), "--gguf-file", "null", "--chunks", "2,1",
                        "--batch-size", "2", "--held-out", "4", "--blind-choices"])
    assert code == 0
    out = capsys.readouterr().out
    rows = [line.split("|")[1:-1] for line in out.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert [int(row[0]) for row in rows] == [0, 2, 3]
    assert all(0.0 <= float(row[1]) <= 100.0 for row in rows)
    assert "blind choices: True" in out
