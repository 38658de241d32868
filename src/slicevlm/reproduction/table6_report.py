"""The Table 6 record as markdown: counts at full size, the measured run, and the paper's Table 6 beside it.

Everything is read from the record `slicevlm reproduce table6` writes as JSON, so a table can be
rendered again from a saved run.
"""

from __future__ import annotations

from slicevlm.bench.flops import COUNTED
from slicevlm.metrics.paper_tables import OURS, TABLE6

#: Why the paper's training column is not set against ours.
GPU_HOURS_NOTE = (
    "The paper's GPU-hours are whole training runs (its data, epochs and A800 GPUs); a few measured optimiser "
    "steps are not comparable with them, nor is its latency, measured on another GPU with another set-up. Only "
    "ratios between models measured side by side in one run can be set beside the paper's ratios."
)


def _flops(value: float) -> str:
    for unit, scale in (("TFLOP", 1e12), ("GFLOP", 1e9), ("MFLOP", 1e6)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value:,.0f} FLOP"


def _parameters(counts: dict[str, int]) -> str:
    return f"{counts['trainable']:,} / {counts['total']:,}"


def _size(volume_size: list[int]) -> str:
    return "×".join(str(s) for s in volume_size)


def _census_table(rows: list[dict]) -> list[str]:
    lines = [
        "| model | configs | input D×H×W | visual tokens | parameters, trainable / total (stage 2) | of which LoRA | "
        "vision FLOPs per volume (tower + projector) |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        flops = row["flops"]
        lines.append(
            f"| {row['name']} | {' + '.join(row['configs'])} | {_size(row['volume_size'])} | {row['visual_tokens']} | "
            f"{_parameters(row['parameters'])} | {row['parameters']['lora']:,} | "
            f"{_flops(flops['tower'] + flops['projector'])} (tower {_flops(flops['tower'])}) |"
        )
    return lines


def _measured_table(record: dict) -> list[str]:
    label = record["label"]
    lines = [
        f"| model ({label}) | visual tokens | parameters, trainable / total | vision FLOPs per volume | training samples/s | "
        "training tokens/s | closed-VQA latency, plain `generate` | closed-VQA latency, fast decoder | of which vision |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    counts = {row["name"]: row for row in record["census"][record["size"]]}
    for row in record["measured"]:
        census = counts[row["name"]]
        flops = census["flops"]["tower"] + census["flops"]["projector"]
        lines.append(
            f"| {row['name']} | {row['visual_tokens']} | {_parameters(census['parameters'])} | {_flops(flops)} | "
            f"{row['train_samples_per_s']:.3g} | {row['train_tokens_per_s']:,.0f} | {row['latency_plain_s'] * 1e3:.1f} ms | "
            f"{row['latency_fast_s'] * 1e3:.1f} ms | {row['vision_s'] * 1e3:.2f} ms |"
        )
    return lines


def _runs(count: int, kind: str) -> str:
    return f"{count} {kind} run{'' if count == 1 else 's'}"


def _ratio(value: float, reference: float) -> str:
    return f"{value / reference:.2f}×"


def _paper_table(record: dict) -> list[str]:
    label = record["label"]
    measured = {row["name"]: row for row in record["measured"]}
    counted = {row["name"]: row for row in record["census"]["full"]}
    ours = next(row for row in record["measured"] if row["paper_row"] == OURS)
    paper_hours, paper_ms = TABLE6.rows[OURS]
    lines = [
        "| model | paper: training GPU-hours | paper: latency | paper: GPU-hours ÷ SliceVLM's | paper: latency ÷ SliceVLM's | "
        f"measured: training time per sample ÷ SliceVLM's ({label}) | measured: latency ÷ SliceVLM's, plain / fast ({label}) | "
        "full-size vision FLOPs ÷ SliceVLM's |",
        "|---|---|---|---|---|---|---|---|",
    ]
    ours_flops = sum(counted[ours["name"]]["flops"][part] for part in ("tower", "projector"))
    for name, row in measured.items():
        hours, ms = TABLE6.rows[row["paper_row"]]
        flops = sum(counted[name]["flops"][part] for part in ("tower", "projector"))
        lines.append(
            f"| {name} | {hours:g} h | {ms:g} ms | {_ratio(hours, paper_hours)} | {_ratio(ms, paper_ms)} | "
            f"{_ratio(row['train_step_s'], ours['train_step_s'])} | "
            f"{_ratio(row['latency_plain_s'], ours['latency_plain_s'])} / {_ratio(row['latency_fast_s'], ours['latency_fast_s'])} | "
            f"{_ratio(flops, ours_flops)} |"
        )
    return lines


def markdown(record: dict) -> str:
    """The whole report: header, full-size counts, the measured run, the paper's Table 6 beside it."""
    machine, settings = record["machine"], record["settings"]
    label = record["label"]
    lines = [
        "# Paper Table 6 side by side: SliceVLM, M3D-LaMed and Med3DVLM on one LLM",
        "",
        f"{machine['device']} · {machine['cpu']} · torch threads: {machine['cpu_threads']} · torch {machine['torch']} · "
        f"transformers {machine['transformers']} · {record['date']} · `{record['command']}`",
        "",
        "## Parameters, visual tokens and vision FLOPs at full size (counted on the meta device, no weights)",
        "",
        *_census_table(record["census"]["full"]),
        "",
        f"{COUNTED} Parameters: the stage-2 set-up of each config: its vision tower and projector, "
        f"{record['llm']['full']} and the model's own LoRA adapter (as its config sets it); trainable = what stage 2 updates.",
        "",
    ]
    if record["size"] != "full":
        lines += [f"At the measured size ({label}):", "", *_census_table(record["census"][record["size"]]), ""]
    lines += [
        f"## Measured: {label}",
        "",
        *_measured_table(record),
        "",
        f"One run, every arm interleaved, median of {_runs(settings['repeats'], 'timed')} after {_runs(settings['warmup'], 'warm-up')}. "
        f"LLM: {record['llm'][record['size']]}, one instance shared by the three models. "
        f"Training: stage 2 (trainable vision modules + projector + the model's own LoRA adapter), batch {settings['batch_size']}, "
        f"{settings['text_tokens']} text tokens per row for every model (no padding), AdamW; tokens/s counts the LLM's "
        "positions (the visual tokens in place of `<image>`, plus the other text tokens). Latency: one volume + one closed question with four choices → "
        f"{settings['max_new_tokens']} new tokens, adapters not attached (the cost of a merged adapter). "
        f"{record['precision']}",
        "",
        "## Beside the paper's Table 6 (A800)",
        "",
        *_paper_table(record),
        "",
        GPU_HOURS_NOTE,
    ]
    if not record["comparable"]:
        lines += ["", f"**{label}**: these models are tiny stand-ins; their timings and ratios say nothing about the full-size models."]
    elif record["machine"]["device"].startswith("CPU"):
        lines += [
            "",
            f"**{label}**: the full-size models on a CPU. The ratios between the models are measured on the real "
            "architectures; the absolute times are a CPU's, and a GPU's ratios can differ (a CPU spends relatively more "
            "time in attention and less in matrix products).",
        ]
    return "\n".join(lines) + "\n"
