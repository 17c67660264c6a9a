"""W5: 16 concurrent clients logging to one run over REST, gittrack server vs mlflow server.

Each client process loops ``runs/log-batch`` with 100 metrics (keys m0..m99, a
step of its own) on a kept-alive connection for the given duration. Reported
per server: requests/s, points/s, p50/p99 latency of a request, and points
lost (points acknowledged minus points read back with ``metrics/get-history``
after the run; 0 is the only good answer).

    python benchmarks/w5_server.py                  # 30 s, 16 clients, 3 repetitions
    python benchmarks/w5_server.py --seconds 5 --repeat 1 --no-mlflow
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
API = "/api/2.0/mlflow"


def _call(port: int, method: str, path: str, body: dict | None = None) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    data = json.dumps(body).encode() if body is not None else None
    conn.request(method, API + path, body=data, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    payload = resp.read()
    conn.close()
    if resp.status != 200:
        raise RuntimeError(f"{method} {path}: {resp.status} {payload[:300]!r}")
    return json.loads(payload) if payload else {}


def _wait_health(port: int, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("server did not answer /health")


def start_gittrack(tmp: Path) -> tuple[subprocess.Popen, int]:
    repo = tmp / "gittrack.git"
    subprocess.run(["git", "init", "-q", "--bare", str(repo)], check=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gittrack", "server", "--repo", str(repo), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=str(ROOT),
        start_new_session=True,
    )
    line = proc.stdout.readline().decode()  # type: ignore[union-attr]
    m = re.search(r":(\d+)/", line)
    if not m:
        raise RuntimeError(f"gittrack server did not start: {line!r}")
    port = int(m.group(1))
    _wait_health(port, proc)
    return proc, port


def start_mlflow(tmp: Path) -> tuple[subprocess.Popen, int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "mlflow", "server", "--workers", "1",
            "--host", "127.0.0.1", "--port", str(port),
            "--backend-store-uri", f"sqlite:///{tmp}/mlflow.db",
            "--artifacts-destination", str(tmp / "mlartifacts"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # stopped with its workers and job runner as a group
    )  # fmt: skip
    _wait_health(port, proc)
    return proc, port


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group (each server is started in its own), then wait."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(60)
    except ProcessLookupError:
        pass


def server_cpu(sid: int) -> float:
    """CPU seconds (user + system, reaped children included) of every process in session
    ``sid`` (each server is started in a session of its own: workers, git helpers)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid:  # fields[0] is the state: session id is field 6 of stat
            total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return total / tick


def client_loop(
    args: tuple[int, int, str, float, int, float],
) -> tuple[int, list[float], int, float]:
    """One client: log-batch until ``stop_at``; returns (acknowledged requests, latencies,
    errors, CPU seconds of the client)."""
    port, client_id, run_id, stop_at, n_metrics, start_at = args
    rng = random.Random(client_id)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    conn.connect()
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while time.time() < start_at:
        time.sleep(0.001)
    acked, errors, latencies = 0, 0, []
    i = 0
    while time.time() < stop_at:
        step = client_id * 10_000_000 + i
        ts = int(time.time() * 1000)
        body = json.dumps(
            {
                "run_id": run_id,
                "metrics": [
                    {"key": f"m{k}", "value": rng.random(), "timestamp": ts, "step": step}
                    for k in range(n_metrics)
                ],
            }
        ).encode()
        t0 = time.perf_counter()
        conn.request(
            "POST", API + "/runs/log-batch", body=body, headers={"Content-Type": "application/json"}
        )
        resp = conn.getresponse()
        resp.read()
        latencies.append(time.perf_counter() - t0)
        if resp.status == 200:
            acked += 1
        else:
            errors += 1
        i += 1
    conn.close()
    return acked, latencies, errors, time.process_time()


def measure(port: int, seconds: float, clients: int, n_metrics: int, sid: int) -> dict:
    exp = _call(port, "POST", "/experiments/create", {"name": f"w5-{time.time_ns()}"})
    run = _call(
        port,
        "POST",
        "/runs/create",
        {"experiment_id": exp["experiment_id"], "start_time": int(time.time() * 1000)},
    )
    run_id = run["run"]["info"]["run_id"]
    start_at = time.time() + 1.0
    stop_at = start_at + seconds
    ctx = mp.get_context("fork")
    cpu0 = server_cpu(sid)
    load0 = os.getloadavg()[0]
    with ctx.Pool(clients) as pool:
        results = pool.map(
            client_loop, [(port, c, run_id, stop_at, n_metrics, start_at) for c in range(clients)]
        )
    cpu = server_cpu(sid) - cpu0
    load1 = os.getloadavg()[0]
    acked = sum(r[0] for r in results)
    errors = sum(r[2] for r in results)
    lat = sorted(x for r in results for x in r[1])
    stored = 0
    for k in range(n_metrics):
        stored += len(
            _call(port, "GET", f"/metrics/get-history?run_id={run_id}&metric_key=m{k}")["metrics"]
        )
    points = acked * n_metrics
    return {
        "requests/s": acked / seconds,
        "points/s": points / seconds,
        "p50 ms": 1000 * lat[len(lat) // 2] if lat else float("nan"),
        "p99 ms": 1000 * lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else float("nan"),
        "errors": errors,
        "acked points": points,
        "lost": points - stored,
        "server CPU s": cpu,
        "server CPU µs/point": 1e6 * cpu / points if points else float("nan"),
        "clients CPU s": sum(r[3] for r in results),
        "load": (load0 + load1) / 2,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--metrics", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-mlflow", action="store_true")
    ap.add_argument("--no-gittrack", action="store_true")
    opts = ap.parse_args()

    targets = []
    if not opts.no_gittrack:
        targets.append(("gittrack server", start_gittrack))
    if not opts.no_mlflow:
        targets.append(("mlflow server (SQLite)", start_mlflow))
    table: dict[str, list[dict]] = {name: [] for name, _ in targets}
    for rep in range(opts.repeat):
        for name, start in targets:
            tmp = Path(tempfile.mkdtemp(prefix="w5-"))
            proc, port = start(tmp)
            try:
                res = measure(port, opts.seconds, opts.clients, opts.metrics, proc.pid)
            finally:
                stop(proc)
                shutil.rmtree(tmp, ignore_errors=True)
            table[name].append(res)
            print(
                f"# rep {rep + 1} {name}: "
                + ", ".join(
                    f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in res.items()
                ),
                flush=True,
            )

    cols = [
        "requests/s", "points/s", "p50 ms", "p99 ms", "lost", "errors",
        "server CPU µs/point", "load",
    ]  # fmt: skip
    print()
    print(
        f"W5: {opts.clients} clients x log-batch of {opts.metrics} metrics, {opts.seconds:g} s, "
        f"median of {opts.repeat}; {os.cpu_count()} cores, Python {sys.version.split()[0]}"
    )
    print(f"| server | {' | '.join(cols)} |")
    print("|---|" + "---|" * len(cols))
    medians = {}
    for name, runs in table.items():
        med = {c: statistics.median(r[c] for r in runs) for c in cols}
        medians[name] = med
        cells = [
            f"{med[c]:,.0f}"
            if c in ("requests/s", "points/s", "lost", "errors")
            else f"{med[c]:.1f}"
            for c in cols
        ]
        print(f"| {name} | {' | '.join(cells)} |")
    if len(medians) == 2:
        g, m = (medians[n]["points/s"] for n, _ in targets)
        print(f"\npoints/s ratio gittrack/mlflow: {g / m:.1f}x")
        ratios = [
            a["points/s"] / b["points/s"]
            for a, b in zip(*table.values(), strict=True)
            if b["points/s"]
        ]
        print("per repetition: " + ", ".join(f"{r:.1f}x" for r in ratios))
        g, m = (medians[n]["server CPU µs/point"] for n, _ in targets)
        print(f"server CPU per point mlflow/gittrack: {m / g:.1f}x")


if __name__ == "__main__":
    main()
