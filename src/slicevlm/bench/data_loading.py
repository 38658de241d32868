"""Data loading throughput: volumes/s from disk to a batch, per DataLoader worker count.

``python -m slicevlm.bench.data_loading DATA_ROOT --workers 0 2 [--batches 20] [--json OUT]``

Every worker count is measured in the same run, over the same samples (the first volumes of a
caption split, in file order), so the numbers compare side by side. The first batch (worker start-up, cold caches)
is timed separately from the steady state.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


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


def main(argv: list[str] | None = None) -> int:
    """Print volumes/s per worker count; ``--json OUT`` also writes them."""
    from slicevlm.data.synth import parse_shape

    parser = argparse.ArgumentParser(prog="python -m slicevlm.bench.data_loading", description=__doc__.split("\n")[0])
    parser.add_argument("data_root", help="an M3D data root (e.g. `slicevlm synth` output)")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2], help="worker counts to compare (default 0 2)")
    parser.add_argument("--batches", type=int, default=20, help="batches timed per worker count (default 20)")
    parser.add_argument("--batch-size", type=int, default=12, help="volumes per batch (default 12)")
    parser.add_argument("--volume-size", type=parse_shape, default=(50, 224, 224), help="D,H,W (default 50,224,224)")
    parser.add_argument(
        "--split", default="train", choices=("train", "val", "test"), help="caption split read (default train)"
    )
    parser.add_argument("--json", metavar="OUT", help="write the results to this JSON file")
    args = parser.parse_args(argv)
    results = [
        measure(args.data_root, w, args.batches, args.batch_size, args.volume_size, args.split) for w in args.workers
    ]
    base = results[0]["overall_volumes_per_s"] or float("nan")
    if any(r["volumes"] < args.batches * args.batch_size for r in results):
        timed = (args.batches + 1) * args.batch_size
        print(f"note: the {args.split} split holds fewer than {timed} volumes; timed what there is")
    print(f"data loading, {args.data_root}, volumes -> {tuple(args.volume_size)}, batch {args.batch_size}")
    header = ("workers", "first batch s", "volumes", "vol/s after 1st", "vol/s overall", "overall vs 1st row")
    print("{:>8} {:>14} {:>8} {:>16} {:>14} {:>19}".format(*header))
    for r in results:
        ratio = r["overall_volumes_per_s"] / base
        print(
            f"{r['workers']:>8} {r['first_batch_s']:>14.3f} {r['volumes'] + args.batch_size:>8} "
            f"{r['volumes_per_s']:>16.1f} {r['overall_volumes_per_s']:>14.1f} {ratio:>18.2f}x"
        )
    if args.json:
        Path(args.json).write_text(json.dumps({"data_root": args.data_root, "results": results}, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
