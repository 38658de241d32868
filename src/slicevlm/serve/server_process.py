"""Start ``slicevlm serve`` as a child in its own process group, wait until healthy, stop the whole group.

Used by the tests and by ``load_test.py --checkpoint`` (the server and its LitServe
workers share one process group, which is what gets stopped)::

    with ServerProcess(["--checkpoint", ckpt, "--max-new-tokens", "16"]) as server:
        requests.get(server.url + "/health")
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

#: The command that starts the server (this interpreter, so the same installation).
SERVER_COMMAND = (sys.executable, "-m", "slicevlm", "serve")


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ServerProcess:
    """The server on 127.0.0.1 in a new session (process group).

    Args:
        args: command-line options for ``slicevlm serve`` (``--host``/``--port`` are added).
        port: the port; a free one by default.
        log_path: where stdout and stderr go; default: discarded.
        env: extra environment variables.
        startup_timeout: seconds to wait for ``/health`` to answer 200.
    """

    def __init__(
        self,
        args: list[str],
        port: int | None = None,
        log_path: Path | None = None,
        env: dict[str, str] | None = None,
        startup_timeout: float = 120.0,
    ) -> None:
        self.args = [str(a) for a in args]
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.env = {**os.environ, **(env or {})}
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen | None = None

    def start(self) -> ServerProcess:
        """Launch and block until ``/health`` is 200; raise with the log tail if it dies or times out."""
        import requests

        output = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL
        command = [*SERVER_COMMAND, *self.args, "--host", "127.0.0.1", "--port", str(self.port)]
        self.process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with status {self.process.returncode} before it was healthy:\n{self.log_tail()}")
            try:
                if requests.get(self.url + "/health", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"server not healthy after {self.startup_timeout:.0f} s:\n{self.log_tail()}")

    def alive(self) -> bool:
        """Whether the server's main process is still running."""
        return self.process is not None and self.process.poll() is None

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the process group, then SIGKILL whatever is left after ``grace`` seconds."""
        if self.process is None:
            return
        group = self.process.pid  # start_new_session: the group id is the child's pid
        try:
            os.killpg(group, signal.SIGTERM)
            self.process.wait(timeout=grace)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if self.process.poll() is None:
            self.process.wait(timeout=grace)

    def log_tail(self, characters: int = 4000) -> str:
        """The end of the server log, for error messages."""
        if self.log_path is None or not self.log_path.exists():
            return "(no log kept; pass log_path)"
        return self.log_path.read_text(errors="replace")[-characters:]

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.stop()
