"""Where does the image information get lost? Linear probes along the path of a checkpoint folder.

For each closed question type, a logistic-regression probe is fitted on one data root's cases and
scored on another's (fresh cases), on features taken at each point from the volume to the answer:

    encoder       mean of the frozen slice features F over slices and patches   (B, C)
    kept          the same over the slices the selection keeps                  (B, C)
    tokens        mean visual token after fusion + injection                    (B, C)
    projected     mean visual token in the LLM's embedding space                (B, d)
    llm_layer_k   the LLM's hidden state at the position that writes the answer (B, d)
    answer_logits its next-token logits there                                   (B, V)

A type the probe separates at every point but the model answers at chance is lost in the last
step (the readout of the letter), not in the vision path. The model's own accuracy is printed
beside the probes, and below them how far apart the visual tokens are across volumes and across
positions (`slicevlm.vision.token_spread`): a few percent means they collapsed to one shared vector.
Usage (after `make demo`):

    python scripts/probe_grounding.py runs/demo/checkpoint --fit-root runs/demo/data --test-root runs/demo/fresh
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from slicevlm.checkpoint import load_checkpoint_folder
from slicevlm.command_line import run_command
from slicevlm.data.datamodule import M3DDataModule
from slicevlm.llm.generation_config import GenerationConfig
from slicevlm.vision.token_spread import token_spread

QUESTION_TYPES = ("Plane", "Phase", "Organ", "Abnormality", "Location")


@torch.no_grad()
def features(model, root: str, csv: str, size: tuple[int, int, int], answer: bool = True) -> tuple[dict[str, torch.Tensor], list[str], list[str], list[bool], list[str]]:
    """Probe features of every closed question under ``root``: (features by point, types, keys, whether the
    model's own answer was right, and the token-spread lines of the first batch: both empty unless ``answer``)."""
    data = M3DDataModule(data_root=root, vqa_test_csv=csv, test_tasks=["vqa_closed"], volume_size=size, eval_batch_size=16, num_workers=0, pin_memory=False)
    data.setup("test")
    points: dict[str, list[torch.Tensor]] = defaultdict(list)
    types, keys, right = [], [], []
    spreads: list[str] = []
    for batch in data.test_dataloader():
        volume = batch["volume"]  # (B, D, H, W)
        slices = model.vision.encode_slices(volume)  # (B, D, N, C)
        kept, _ = model.vision.selector(slices)  # (B, D̂, N, C)
        projected, vision = model.visual_embeddings(volume)  # (B, M, d), one more pass through the path
        points["encoder"].append(slices.mean((1, 2)))
        points["kept"].append(kept.mean((1, 2)))
        points["tokens"].append(vision.tokens.mean(1))
        points["projected"].append(projected.float().mean(1))
        if answer and not spreads and volume.shape[0] >= 2:  # the scored root only; one batch is enough
            for name, tokens in (("visual tokens", vision.tokens), ("projected tokens", projected)):
                spread = token_spread(tokens)
                spreads.append(f"{name}: norm {spread.norm:.3g}, across volumes {100 * spread.across_volumes:.1f}%, "
                               f"across positions {100 * spread.across_positions:.1f}% of the norm")
        embeds, mask = model.prompt_inputs(volume, batch["instruction"])  # (B, L', d): what decoding starts from
        output = model.language.model(inputs_embeds=embeds, attention_mask=mask, output_hidden_states=True)
        for layer, hidden in enumerate(output.hidden_states[1:], start=1):
            points[f"llm_layer_{layer}"].append(hidden[:, -1])  # prompts are left-padded: -1 writes the answer
        points["answer_logits"].append(output.logits[:, -1])
        types += batch["question_type"]
        keys += batch["answer_choice"]
        if answer:  # the model's own answers (only needed for the scored root)
            texts = model.generate(volume, batch["instruction"], GenerationConfig(max_new_tokens=4))
            right += [text.strip()[:1] == key for text, key in zip(texts, batch["answer_choice"])]
    return {name: torch.cat(parts).float() for name, parts in points.items()}, types, keys, right, spreads


def probe_accuracy(x_fit: torch.Tensor, y_fit: list[str], x_test: torch.Tensor, y_test: list[str], l2: float = 1e-2) -> float:
    """Multinomial logistic regression (standardised inputs, L2), fitted with L-BFGS; accuracy on the test rows."""
    mean, std = x_fit.mean(0), x_fit.std(0) + 1e-6
    x_fit, x_test = (x_fit - mean) / std, (x_test - mean) / std
    classes = sorted(set(y_fit))
    target = torch.tensor([classes.index(y) for y in y_fit])
    weight = torch.zeros(x_fit.shape[1], len(classes), requires_grad=True)
    bias = torch.zeros(len(classes), requires_grad=True)
    optimiser = torch.optim.LBFGS([weight, bias], max_iter=200)

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(x_fit @ weight + bias, target) + l2 * weight.square().sum()
        loss.backward()
        return loss

    optimiser.step(closure)
    predicted = (x_test @ weight + bias).argmax(1).tolist()
    return float(np.mean([classes[p] == y for p, y in zip(predicted, y_test)]))


def probe(checkpoint: str, *, fit_root: str, test_root: str, csv: str = "M3D_VQA_train.csv") -> None:
    """Fit the probes on one data root, score them on another, and print the table.

    Args:
        checkpoint: checkpoint folder
        fit_root: data root whose closed questions fit the probes
        test_root: data root of other cases to score them on
        csv: VQA CSV under each root
    """
    torch.set_num_threads(max(1, torch.get_num_threads()))
    model, metadata = load_checkpoint_folder(checkpoint, dtype="float32")
    size = tuple(metadata["input_size"])
    fit, fit_types, fit_keys, _, _ = features(model, fit_root, csv, size, answer=False)
    test, test_types, test_keys, right, spreads = features(model, test_root, csv, size)
    names = list(fit)
    print("| question | model | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    for kind in QUESTION_TYPES:
        rows_fit = [i for i, t in enumerate(fit_types) if t == kind]
        rows_test = [i for i, t in enumerate(test_types) if t == kind]
        if not rows_fit or not rows_test:
            continue
        scores = [
            probe_accuracy(fit[name][rows_fit], [fit_keys[i] for i in rows_fit], test[name][rows_test], [test_keys[i] for i in rows_test])
            for name in names
        ]
        model_accuracy = np.mean([right[i] for i in rows_test])
        print(f"| {kind} (n {len(rows_fit)}/{len(rows_test)}) | {100 * model_accuracy:.0f} | " + " | ".join(f"{100 * s:.0f}" for s in scores) + " |")
    print()
    print("Spread of the visual tokens (one batch of the test root):")
    for line in spreads:
        print(f"- {line}")


def main(argv: list[str] | None = None) -> int:
    return run_command(probe, argv, prog=Path(__file__).name, description=__doc__.split("\n\n")[0])


if __name__ == "__main__":
    sys.exit(main())
