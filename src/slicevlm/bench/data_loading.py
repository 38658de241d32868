"""Data loading throughput: volumes/s from disk to a batch, per DataLoader worker count.

``python -m slicevlm.bench.data_loading DATA_ROOT --workers 0 2 [--batches 20] [--out OUT.json]``

Every worker count is measured in the same run, over the same samples (the first volumes of a
caption split, in file order), so the numbers compare side by side. The first batch (worker start-up, cold caches)
is timed separately from the steady state.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Literal

from slicevlm.command_line import Arg, run_command
from slicevlm.testbed.synth import parse_shape


def measure(
    data_root: str,
    workers: int,
    batches: int = 20,
    batch_size: int = 12,
    volume_size: tuple[int, int, int] = (50, 224, 224),
    stage: str = "train",
) -> dict[str, float]:
    """Iterate the test loader and time it.

    Args:
        data_root: An M3D data root.
        workers: DataLoader worker processes.
        batches: Batches timed after the first.
        batch_size: Volumes per batch.
        volume_size: Model input size the volumes are resized to.
        stage: Caption split to read: ``train``, ``val`` or ``test`` (in file order).

    Returns:
        ``{"workers", "first_batch_s", "volumes", "seconds", "volumes_per_s"}`` after the first batch
        (workers prefetch while it loads, so short runs flatter them) and ``overall_volumes_per_s``
        from ``iter()`` to the last batch, start-up included.
    """
    from torch.utils.data import Subset

    from slicevlm.data.datamodule import M3DDataModule

    module = M3DDataModule(
        data_root, volume_size=volume_size, eval_batch_size=batch_size, num_workers=workers, pin_memory=False
    )
    dataset = module.task_dataset("caption", stage)
    dataset = Subset(dataset, range(min(len(dataset), (batches + 1) * batch_size)))  # type: ignore[arg-type]
    begin = time.perf_counter()
    iterator = iter(module.eval_loader(dataset))
    first_volumes = next(iterator)["volume"].shape[0]
    first = time.perf_counter() - begin
    volumes, start = 0, time.perf_counter()
    for _, batch in zip(range(batches), iterator):
        volumes += batch["volume"].shape[0]
    end = time.perf_counter()
    if hasattr(iterator, "_shutdown_workers"):
        iterator._shutdown_workers()  # persistent workers: stop them now, not at garbage collection
    seconds, total = end - start, end - begin
    return {
        "workers": workers,
        "first_batch_s": round(first, 4),
        "volumes": volumes,
        "seconds": round(seconds, 4),
        "volumes_per_s": round(volumes / seconds, 2) if seconds > 0 and volumes else 0.0,
        "overall_volumes_per_s": round((volumes + first_volumes) / total, 2),
    }


def data_loading(
    data_root: str,
    workers: list[int] = [0, 2],  # noqa: B006 (read only: the parser's default)
    batches: int = 20,
    batch_size: int = 12,
    volume_size: Annotated[tuple[int, int, int], Arg(parse=parse_shape, metavar="D,H,W")] = (50, 224, 224),
    split: Literal["train", "val", "test"] = "train",
    json_out: Annotated[str | None, Arg(flag="--out", metavar="OUT.json")] = None,
) -> int:
    """Data loading throughput: volumes/s from disk to a batch, per DataLoader worker count.

    Args:
        data_root: an M3D data root (e.g. `slicevlm synth` output)
        workers: worker counts to compare
        batches: batches timed per worker count
        batch_size: volumes per batch
        volume_size: D,H,W of the batches
        split: caption split read
        json_out: write the results to this JSON file
    """
    results = [measure(data_root, w, batches, batch_size, volume_size, split) for w in workers]
    base = results[0]["overall_volumes_per_s"] or float("nan")
    if any(r["volumes"] < batches * batch_size for r in results):
        print(f"note: the {split} split holds fewer than {(batches + 1) * batch_size} volumes; timed what there is")
    print(f"data loading, {data_root}, volumes -> {tuple(volume_size)}, batch {batch_size}")
    header = ("workers", "first batch s", "volumes", "vol/s after 1st", "vol/s overall", "overall vs 1st row")
    print("{:>8} {:>14} {:>8} {:>16} {:>14} {:>19}".format(*header))
    for r in results:
        ratio = r["overall_volumes_per_s"] / base
        print(
            f"{r['workers']:>8} {r['first_batch_s']:>14.3f} {r['volumes'] + batch_size:>8} "
            f"{r['volumes_per_s']:>16.1f} {r['overall_volumes_per_s']:>14.1f} {ratio:>18.2f}x"
        )
    if json_out:
        Path(json_out).write_text(json.dumps({"data_root": data_root, "results": results}, indent=1), encoding="utf-8")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Print volumes/s per worker count; ``--out OUT.json`` also writes them."""
    return run_command(data_loading, argv, prog="python -m slicevlm.bench.data_loading")


if __name__ == "__main__":
    raise SystemExit(main())
