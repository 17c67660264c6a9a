"""A real ``gittrack server`` (or ``mlflow server``) process on a loopback port, for tests."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


class ServerProcess:
    """``python -m gittrack server --repo REPO --port 0 ARGS`` until :meth:`stop`."""

    def __init__(self, repo: Path | str, *args: str, env: dict[str, str] | None = None) -> None:
        self.repo = str(repo)
        self.log_path = Path(self.repo).parent / f"server-{os.getpid()}-{time.time_ns()}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115
        full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gittrack", "server", "--repo", self.repo, "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=full_env,
        )
        first = self._read_line(timeout=60)
        m = re.search(r"http://127\.0\.0\.1:(\d+)/", first)
        if not m:
            self.stop()
            raise AssertionError(f"server did not start: {first!r}\n{self.stderr()}")
        self.port = int(m.group(1))
        self.url = f"http://127.0.0.1:{self.port}"
        self.banner = first

    def _read_line(self, timeout: float) -> str:
        import select

        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            return ""
        return self.proc.stdout.readline().decode()

    def stderr(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._log.close()
        return self.proc.returncode

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def bare_repo(folder: Path, name: str = "store.git") -> Path:
    """A new, empty bare git repository ``folder/name`` (what a team's server serves)."""
    repo = folder / name
    subprocess.run(["git", "init", "-q", "--bare", str(repo)], check=True)
    return repo


def own_git_env(base: Path) -> dict[str, str]:
    """A HOME and git config of the server's own under ``base``: no user's settings."""
    return {"HOME": str(base), "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": str(base / "gc")}


@contextmanager
def serve_new_repo(
    base: Path, *args: str, env: dict[str, str] | None = None
) -> Iterator[ServerProcess]:
    """``gittrack server ARGS`` over a new bare repository ``base/store.git``, with
    :func:`own_git_env` (and ``env``); stopped on leaving."""
    with ServerProcess(bare_repo(base), *args, env={**own_git_env(base), **(env or {})}) as srv:
        yield srv


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(
    method: str,
    url: str,
    body: Any = None,
    *,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """One request; returns (status, decoded JSON body or raw bytes)."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None and "Content-Type" not in (headers or {}):
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            status, payload = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, payload = exc.code, exc.read()
    try:
        return status, json.loads(payload)
    except ValueError:
        return status, payload


def start_mlflow_server(
    tmp: Path, port: int | None = None, wait: float = 120.0
) -> tuple[subprocess.Popen, str]:
    """A real ``mlflow server --workers 1`` with a SQLite store on a free loopback port
    (or on ``port``: the same server started again over the same store)."""
    port = port or free_port()
    (tmp / "mlruns").mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--workers",
            "1",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend-store-uri",
            f"sqlite:///{tmp}/mlflow.db",
            "--artifacts-destination",
            str(tmp / "mlruns"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=open(tmp / "mlflow-server.log", "wb"),  # noqa: SIM115
        env={k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")},
        start_new_session=True,  # its workers and job runner go with it at stop
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + wait
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError((tmp / "mlflow-server.log").read_text())
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as resp:
                if resp.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise AssertionError(f"mlflow server did not start within {wait:.0f} s")


def stop_mlflow_server(proc: subprocess.Popen) -> None:
    """Stop ``mlflow server`` and the processes it started (its own process group)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
    except ProcessLookupError:
        pass


def log_batches_until_sigkill(
    server: ServerProcess,
    run_id: str,
    *,
    clients: int,
    keys: int,
    seconds: float = 3.0,
    params_every: int = 0,
) -> tuple[set[int], set[str]]:
    """``clients`` threads loop ``runs/log-batch`` into ``run_id`` (metrics ``k0``..,
    one step per request; with ``params_every``, a new param every that many requests)
    until the server is SIGKILLed after ``seconds``; returns the steps and the param
    keys whose requests were acknowledged."""
    import http.client as httplib
    import threading

    api = "/api/2.0/mlflow"
    acked: list[set[int]] = [set() for _ in range(clients)]
    params: list[set[str]] = [set() for _ in range(clients)]
    stop = threading.Event()

    def client(n: int) -> None:
        conn = httplib.HTTPConnection("127.0.0.1", server.port, timeout=30)
        i = 0
        while not stop.is_set():
            step = n * 1_000_000 + i
            payload: dict[str, Any] = {
                "run_id": run_id,
                "metrics": [
                    {"key": f"k{j}", "value": float(step), "timestamp": 1, "step": step}
                    for j in range(keys)
                ],
            }
            if params_every and i % params_every == 0:
                payload["params"] = [{"key": f"p{n}-{i}", "value": str(step)}]
            try:
                conn.request("POST", f"{api}/runs/log-batch", body=json.dumps(payload))
                resp = conn.getresponse()
                resp.read()
            except OSError:
                return  # the server is gone; this request was never acknowledged
            if resp.status == 200:
                acked[n].add(step)
                if "params" in payload:
                    params[n].add(payload["params"][0]["key"])
            i += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    time.sleep(seconds)
    server.proc.send_signal(signal.SIGKILL)  # no flushing, no goodbye
    server.stop()
    stop.set()
    for t in threads:
        t.join()
    return set().union(*acked), set().union(*params)


@contextmanager
def served_over(kind: str, central: Path) -> Iterator[str]:
    """The URL of bare repository ``central`` served as ``kind`` — ``file`` (its path),
    ``git-daemon``, ``http-backend`` (git http-backend behind a small HTTP server) or
    ``gittrack-server`` (``/git/`` of ``gittrack server``) — until the block ends."""
    from tests.remote_helpers import GitDaemon, SmartHTTP

    if kind == "file":
        yield str(central)
        return
    if kind == "git-daemon":
        daemon = GitDaemon(central.parent)
        url, stop = daemon.url(central.name), daemon.stop
    elif kind == "http-backend":
        smart = SmartHTTP(central.parent)
        url, stop = smart.url(central.name), smart.stop
    else:
        server = ServerProcess(central)
        url, stop = f"{server.url}/git/", server.stop
    try:
        yield url
    finally:
        stop()
