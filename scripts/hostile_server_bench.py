"""Hostile inputs against a real `slicevlm serve` on loopback: statuses, times, server memory.

    python scripts/hostile_server_bench.py --checkpoint runs/demo/checkpoint [--work runs/hostile_server]

Starts one server (its own process group, 127.0.0.1, a free port) and measures, in order:

1. a 0.5 MB ``.nii.gz`` whose header declares 2^29 voxels (refused on its header);
2. a 2 MB ``.zip`` whose two members declare 1.9 GiB (refused on its declared sizes);
3. a 0.1 MB ``.nii.gz`` of 512³ uint8 and a 1 MB ``.nii.gz`` of 512³ float64 (within the voxel cap;
   the reader processes' budgets decide);
4. six of those float64 uploads at once beside five ordinary requests (do the ordinary ones still
   get answered?);
5. 300 connections from another loopback address (127.0.0.2) trickling their headers beside 19
   ordinary requests from 127.0.0.1.

Every request is bounded in count and time; only the loopback server is contacted. Prints a Markdown table.
The peak memory is the largest VmHWM of any server process (the model worker and the readers).
"""

from __future__ import annotations

import gzip
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
import zipfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hostile_memory import nifti_gz  # noqa: E402  (same builders as the per-format table)

from slicevlm.command_line import run_command  # noqa: E402
from slicevlm.rehearsal.processes import group_memory_kib  # noqa: E402
from slicevlm.serve.server_process import ServerProcess  # noqa: E402


def _group_peak_mb(pgid: int) -> float:
    return group_memory_kib(pgid)[0] / 1024


def _post(port: int, path: Path, question: str = "Which plane?", timeout: float = 300) -> tuple[int, float, str]:
    boundary = uuid.uuid4().hex
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="question"\r\n\r\n{question}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode() + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/predict", data=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, time.perf_counter() - start, ""
    except urllib.error.HTTPError as error:
        return error.code, time.perf_counter() - start, error.read().decode("utf-8", "replace")[:120]
    except OSError as error:
        return 0, time.perf_counter() - start, str(error)[:120]


def _declared_bomb(path: Path) -> Path:
    header = bytearray(352)
    header[0:4] = (348).to_bytes(4, "little")
    header[40:56] = np.array([3, 1024, 1024, 512, 1, 1, 1, 1], "<i2").tobytes()
    header[70:74] = np.array([2, 8], "<i2").tobytes()
    header[108:112] = np.array([352.0], "<f4").tobytes()
    header[344:348] = b"n+1\0"
    with gzip.open(path, "wb", compresslevel=9) as out:
        out.write(bytes(header))
        chunk = bytes(1 << 24)
        for _ in range(32):  # 512 MiB of zeros behind it
            out.write(chunk)
    return path


def _zip_bomb(path: Path) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as bundle:
        for name in ("a.dcm", "b.dcm"):
            with bundle.open(name, "w", force_zip64=True) as member:
                chunk = bytes(1 << 24)
                for _ in range(60):
                    member.write(chunk)
    return path


def _in_parallel(jobs: list) -> list:
    results: list = [None] * len(jobs)

    def run(index: int, job) -> None:
        results[index] = job()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    return results


def _trickle(port: int, count: int) -> list[socket.socket]:
    """``count`` connections from another loopback address (127.0.0.2) that send half their headers."""
    sockets = []
    for _ in range(count):
        try:
            connection = socket.create_connection(("127.0.0.1", port), timeout=2, source_address=("127.0.0.2", 0))
            connection.sendall(b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            sockets.append(connection)
        except OSError:
            break
    return sockets


def _still_open(connections: list[socket.socket]) -> int:
    """How many the server has not closed (a closed one reads EOF or its 503 at once)."""
    open_count = 0
    for connection in connections:
        connection.settimeout(0.05)
        try:
            open_count += connection.recv(1) == b"" and 0
        except TimeoutError:
            open_count += 1
        except OSError:
            pass
    return open_count


def bench(*, checkpoint: Path, work: Path = Path("runs/hostile_server")) -> int:
    """Run the measurements against one server and print the table.

    Args:
        checkpoint: checkpoint folder the server loads
        work: folder the hostile files are written to
    """
    work.mkdir(parents=True, exist_ok=True)
    files = {
        "declared": _declared_bomb(work / "declared.nii.gz"),
        "zip": _zip_bomb(work / "bomb.zip"),
        "u8": nifti_gz(work / "u8.nii.gz", np.uint8),
        "f64": nifti_gz(work / "f64.nii.gz", np.float64),
        "ok": work / "ok.npy",
    }
    np.save(files["ok"], np.random.default_rng(0).random((16, 48, 48), dtype=np.float32))
    server = ServerProcess(["--checkpoint", str(checkpoint), "--max-new-tokens", "8", "--log-level", "warning"], startup_timeout=300)
    port = server.port
    rows = []
    try:
        server.start()
        pid = server.process.pid
        idle = _group_peak_mb(pid)
        rows.append(("server idle (model worker + readers)", "—", "—", f"{idle:,.0f} MB"))
        for label, key in (("0.5 MB .nii.gz declaring 1024×1024×512", "declared"), ("2 MB .zip declaring 1.9 GiB", "zip"),
                           ("0.1 MB .nii.gz, 512³ uint8", "u8"), ("1 MB .nii.gz, 512³ float64", "f64"), ("ordinary 16×48×48 .npy", "ok")):  # fmt: skip
            status, seconds, _ = _post(port, files[key])
            rows.append((label, f"{files[key].stat().st_size / 2**20:.2f} MB", f"{status} in {seconds:.2f} s", f"{_group_peak_mb(pid):,.0f} MB"))
        jobs = [lambda: _post(port, files["f64"]) for _ in range(6)] + [lambda: _post(port, files["ok"]) for _ in range(5)]
        results = _in_parallel(jobs)
        hostile, ordinary = results[:6], results[6:]
        rows.append((
            "6 × the float64 upload at once + 5 ordinary requests",
            "6 MB",
            f"hostile {sorted(r[0] for r in hostile)}; ordinary {sorted(r[0] for r in ordinary)}, slowest {max(r[1] for r in ordinary):.1f} s",
            f"{_group_peak_mb(pid):,.0f} MB",
        ))  # fmt: skip
        held = _trickle(port, 300)
        time.sleep(1.0)
        still = _still_open(held)
        legit = _in_parallel([lambda: _post(port, files["ok"], timeout=60) for _ in range(19)])
        answered = sum(1 for r in legit if r[0] == 200)
        rows.append((
            "300 connections from another address trickling headers + 19 ordinary requests",
            "—",
            f"{still} of 300 left open by the server; ordinary: {answered}/19 answered",
            "—",
        ))
        for connection in held:
            connection.close()
    finally:
        server.stop()
    print("| input | bytes in | answer | server peak memory (largest process) |")
    print("|---|---:|---|---:|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_command(bench, argv, prog=Path(__file__).name, description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
