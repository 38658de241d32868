"""Bounded load test: N concurrent clients × M requests each against a running server, then stop.

    python -m slicevlm.serve.load_test --url http://127.0.0.1:8000 --clients 64 --requests 4
    python -m slicevlm.serve.load_test --checkpoint runs/demo/checkpoint --clients 64 --requests 4   # starts its own server

Each client uploads a volume (``--volume``, default a small synthetic ``.npy``) with a question and
waits for the answer; nothing is retried. Prints the request count, the requests the server shed
(503 with Retry-After: more clients than ``--max-queue``), the failures (any other non-200 or
network error), p50/p95/max latency of the answered ones and throughput; exits 1 if anything
failed. Only 127.0.0.1 / localhost URLs are accepted. The API key is read from
``$SLICEVLM_API_KEY`` or ``--api-key-file`` (never the command line, where ``ps`` shows it). All
clients share one address: a server started with ``--checkpoint`` gets
``--max-connections-per-client 0``; against ``--url``, start the server with a cap above
``--clients`` (or 0).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass
class LoadResult:
    """What a load test measured (latencies in ms, of successful requests; ``shed``: 503 answers)."""

    requests: int
    failed: int
    latencies_ms: list[float]
    seconds: float
    errors: Counter = field(default_factory=Counter)
    shed: int = 0

    def percentile(self, q: float) -> float:
        """The q-th percentile latency (nearest rank), 0 when nothing succeeded."""
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]

    def summary(self) -> str:
        """One line for humans."""
        rate = self.requests / self.seconds if self.seconds else 0.0
        errors = f" errors={dict(self.errors)}" if self.errors else ""
        mean = statistics.fmean(self.latencies_ms) if self.latencies_ms else 0.0
        return (
            f"requests={self.requests} shed={self.shed} failed={self.failed} p50={self.percentile(50):.0f}ms "
            f"p95={self.percentile(95):.0f}ms max={max(self.latencies_ms, default=0):.0f}ms mean={mean:.0f}ms "
            f"wall={self.seconds:.1f}s throughput={rate:.1f} req/s{errors}"
        )


def synthetic_volume(folder: Path, shape: tuple[int, int, int] = (16, 48, 48)) -> Path:
    """A small random ``.npy`` volume to upload."""
    import numpy as np

    path = folder / "load_test_volume.npy"
    np.save(path, np.random.default_rng(0).random(shape, dtype=np.float32))
    return path


def run_load_test(
    url: str,
    volume: Path,
    clients: int = 64,
    requests_per_client: int = 4,
    question: str = "Which organ is shown?",
    api_key: str | None = None,
    timeout: float = 300.0,
) -> LoadResult:
    """Run the clients in threads; return once every request has finished or failed.

    Args:
        url: the server's base URL (127.0.0.1 / localhost only).
        volume: the file each request uploads.
        clients: concurrent clients.
        requests_per_client: sequential requests per client.
        question: the question asked.
        api_key: sent as X-API-Key when given.
        timeout: per-request timeout in seconds.
    """
    import requests

    host = urlparse(url).hostname
    if host not in LOCAL_HOSTS:
        raise ValueError(f"--url {url!r} is not local; this load test only targets {LOCAL_HOSTS}.")
    payload = volume.read_bytes()
    latencies: list[float] = []
    errors: Counter = Counter()
    shed: list[float] = []
    lock = threading.Lock()
    start_line = threading.Barrier(clients)

    def client() -> None:
        session = requests.Session()
        headers = {"X-API-Key": api_key} if api_key else {}
        start_line.wait()
        for _ in range(requests_per_client):
            begin = time.perf_counter()
            try:
                response = session.post(
                    url.rstrip("/") + "/predict",
                    files={"file": (volume.name, payload)},
                    data={"question": question},
                    headers=headers,
                    timeout=timeout,
                )
                outcome = "ok" if response.status_code == 200 and "answer" in response.json() else f"http {response.status_code}"
            except (requests.RequestException, ValueError) as error:
                outcome = type(error).__name__
            elapsed = (time.perf_counter() - begin) * 1000
            with lock:
                if outcome == "ok":
                    latencies.append(elapsed)
                elif outcome == "http 503":
                    shed.append(elapsed)
                else:
                    errors[outcome] += 1

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = clients * requests_per_client
    return LoadResult(total, total - len(latencies) - len(shed), latencies, time.perf_counter() - began, errors, len(shed))


def main(argv: list[str] | None = None) -> int:
    """Command line: see the module docstring (a jsonargparse parser with the conventions of
    :mod:`slicevlm.command_line`; built option by option for its either-or ``--url | --checkpoint``)."""
    from jsonargparse import ArgumentParser

    from slicevlm.command_line import help_formatter

    parser = ArgumentParser(prog="python -m slicevlm.serve.load_test", description=__doc__, formatter_class=help_formatter())
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--url", help="a running server, e.g. http://127.0.0.1:8000")
    target.add_argument("--checkpoint", type=Path, help="start a server for this checkpoint (stopped afterwards)")
    parser.add_argument("--clients", type=int, default=64, help="concurrent clients")
    parser.add_argument("--requests", type=int, default=4, help="requests per client")
    parser.add_argument("--volume", type=Path, default=None, help="file to upload; null: a synthetic 16×48×48 .npy")
    parser.add_argument("--question", default="Which organ is shown?", help="question each request asks")
    parser.add_argument("--api-key-file", type=Path, default=None, help="file whose first line is the X-API-Key to send (default: $SLICEVLM_API_KEY)")
    parser.add_argument("--timeout", type=float, default=300.0, help="per-request timeout in seconds")
    parser.add_argument("--server-args", default="--max-new-tokens 32", help="extra `slicevlm serve` options with --checkpoint")
    args = parser.parse_args(argv)
    if args.clients < 1 or args.requests < 1:
        parser.error("--clients and --requests must be at least 1.")
    api_key = os.environ.get("SLICEVLM_API_KEY") or None
    if args.api_key_file is not None:
        try:
            api_key = (args.api_key_file.read_text(encoding="utf-8").splitlines() or [""])[0].strip()
        except (OSError, UnicodeDecodeError) as error:
            parser.error(f"--api-key-file {args.api_key_file}: cannot be read ({error}).")
    with tempfile.TemporaryDirectory(prefix="slicevlm-load-") as scratch:
        volume = args.volume or synthetic_volume(Path(scratch))
        if args.checkpoint is not None:
            from slicevlm.serve.server_process import ServerProcess

            server_args = ["--checkpoint", str(args.checkpoint), "--max-connections-per-client", "0", *args.server_args.split()]
            with ServerProcess(server_args, log_path=Path(scratch) / "server.log") as server:
                result = run_load_test(server.url, volume, args.clients, args.requests, args.question, api_key, args.timeout)
        else:
            result = run_load_test(args.url, volume, args.clients, args.requests, args.question, api_key, args.timeout)
    sys.stdout.write(result.summary() + "\n")
    return 1 if result.failed else 0


if __name__ == "__main__":
    sys.exit(main())
