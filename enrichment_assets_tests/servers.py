"""Start and stop the Dagster webserver and daemon for integration tests.

Servers are started in their own session with default signal handling and stopped by
process group id (see ../shared/FACTS.md: a process started from a background shell may
ignore SIGINT/SIGTERM).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DagsterStack:
    """``dagster-webserver`` and ``dagster-daemon`` on ``workspace.yaml`` with ``env``."""

    def __init__(self, env: dict[str, str], log_dir: Path):
        self.env = env
        self.port = free_port()
        self.log_dir = log_dir
        self.processes: list[subprocess.Popen] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _start(self, name: str, args: list[str]) -> None:
        log = (self.log_dir / f"{name}.log").open("w")
        self.processes.append(subprocess.Popen(
            args, cwd=REPO_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True))

    def __enter__(self) -> DagsterStack:
        self._start("webserver", [str(BIN / "dagster-webserver"), "-w", "workspace.yaml",
                                  "-h", "127.0.0.1", "-p", str(self.port)])
        self._start("daemon", [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"])
        wait_for(lambda: _answers(f"{self.url}/server_info"), 120, "webserver /server_info")
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self.processes:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        for proc in self.processes:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-4000:]}" for p in sorted(self.log_dir.glob("*.log")))


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def wait_for(condition: Callable[[], object], timeout_s: float, what: str, interval_s: float = 1.0):
    """Poll ``condition`` until it returns a truthy value; raise TimeoutError naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval_s)
    raise TimeoutError(f"timed out after {timeout_s:.0f}s waiting for {what}")
