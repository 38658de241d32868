"""Does a checkpoint use the volume, teacher-forced? The first answer token with the own and a swapped volume.

Every question of a data root's VQA CSV (and every report) is scored twice, teacher-forced: with its
own volume and with another case's (the test set's ``swapped`` control: a fixed-seed derangement of the
cases). For each task and question type it prints how often the first answer token is the model's
top prediction (the closed answer's letter, the open answer's first word, the report's first word) and
the mean negative log-likelihood of the whole answer, own beside swapped. A model that reads the volume
scores higher with its own; one that ignores it scores the same with both. Unlike generated answers,
nothing depends on decoding: this is the earliest place a reading shows.

Usage (after `make demo-small`):

    python scripts/probe_image_use.py runs/demo_small/checkpoint --data-root runs/demo_small/fresh
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from slicevlm.checkpoint import load_checkpoint_folder
from slicevlm.command_line import run_command
from slicevlm.data.datamodule import M3DDataModule
from slicevlm.llm.prompting import IGNORE_INDEX


@torch.no_grad()
def scored(model, batch: dict) -> list[tuple[bool, float]]:
    """(first answer token is the top prediction, mean answer NLL) for every row of a test batch."""
    volume = batch["volume"]  # (B, D, H, W)
    tokens = model.tokenize_for_training(batch["instruction"], batch["answer"], volume.shape[1])
    embeds, mask, labels = model.spliced_inputs(volume, tokens["input_ids"], tokens["attention_mask"], tokens["labels"])
    logits = model.language(embeds, mask, None).logits.float()  # (B, L', V)
    rows = []
    for i in range(volume.shape[0]):
        answer = (labels[i] != IGNORE_INDEX).nonzero().flatten()  # positions of the answer tokens
        predicted = logits[i, answer - 1]  # the logits that predict them
        nll = -torch.log_softmax(predicted, -1).gather(1, labels[i, answer][:, None]).mean().item()
        rows.append((predicted[0].argmax().item() == labels[i, answer[0]].item(), nll))
    return rows


def probe(checkpoint: str, *, data_root: str, csv: str = "M3D_VQA_train.csv", max_samples: int | None = 200,
          batch_size: int = 16, control_seed: int = 0) -> None:
    """Score own against swapped volumes and print the table.

    Args:
        checkpoint: checkpoint folder
        data_root: data root in the M3D layout (other cases than the training data's)
        csv: VQA CSV under data_root
        max_samples: at most this many questions per task (a seeded subset); None: all
        batch_size: rows per forward pass
        control_seed: seed of the case derangement that picks the swapped volumes
    """
    model, metadata = load_checkpoint_folder(checkpoint, dtype="float32")
    model.eval()
    data = M3DDataModule(
        data_root, vqa_test_csv=csv, test_tasks=["caption", "vqa_closed", "vqa_open"], volume_size=tuple(metadata["input_size"]),
        eval_batch_size=batch_size, num_workers=0, pin_memory=False, max_test_samples=max_samples,
        image_controls=["swapped"], control_seed=control_seed,
    )
    data.setup("test")
    results: dict[tuple[str, str], dict[str, list[tuple[bool, float]]]] = defaultdict(lambda: defaultdict(list))
    for batch in data.test_dataloader():
        for row, score in enumerate(scored(model, batch)):
            key = (batch["task"][row], batch["question_type"][row])
            results[key][batch["condition"][row]].append(score)
    print("| task | type | n | first token, own / swapped (%) | answer NLL, own / swapped |")
    print("|---|---|---|---|---|")
    for (task, kind), conditions in sorted(results.items()):
        own, swapped = conditions["own"], conditions["swapped"]
        first = [100 * np.mean([ok for ok, _ in rows]) for rows in (own, swapped)]
        nll = [np.mean([value for _, value in rows]) for rows in (own, swapped)]
        print(f"| {task} | {kind} | {len(own)} | {first[0]:.1f} / {first[1]:.1f} | {nll[0]:.3f} / {nll[1]:.3f} |")


def main(argv: list[str] | None = None) -> int:
    return run_command(probe, argv, prog=Path(__file__).name, description=__doc__.split("\n\n")[0])


if __name__ == "__main__":
    raise SystemExit(main())
