"""W7: the web UI in headless Chromium.

1. A repository with N finished runs (default 10,000; W1 shape: 10 params, 5 metrics
   × 10 steps, 3 tags): time from navigation to the first row of the runs table,
   with a freshly started ``gittrack ui`` (cold: the server reads every run record)
   and on a reload (warm).
2. A page of 1,000 rows of that table (``#/runs?size=1000``): time from navigation to
   the first row, and the browser's share: from the page's data arriving (performance
   mark ``gt:runs:data``) to the frame after the rows were drawn (``gt:runs:painted``).
3. One run with 5 metrics × 10,000 steps: time from navigation to all five charts
   drawn on their canvases, cold (fresh server) and warm (reload); then a drag-zoom on
   one chart, from the drag's end (``gt:zoom:start``) to the frame after the
   full-resolution points were drawn (``gt:zoom:painted``).

Usage::

    python benchmarks/w7_ui.py [--runs 10000] [--reps 3] [--data DIR] [--mlflow-runs 1000]

The runs are logged once through gittrack's client into ``DIR`` (default
``$TMPDIR/gittrack-w7``) and reused by later invocations. With ``--mlflow-runs N``
(N > 0) the same pages of ``mlflow ui`` (``mlflow server --workers 1``, SQLite
store) are timed on the same data logged through ``MlflowClient.log_batch``: the
long run, and N table runs (logging 10,000 runs into MLflow's SQLite store takes
hours on a small machine, so N defaults to 1,000). Needs Debian's
``chromium`` (``/usr/bin/chromium``) and ``pip install playwright``.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHROMIUM = os.environ.get("GITTRACK_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "b@x",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "b@x",
}


def init_repo(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **GIT_ENV}
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=path, check=True)
    subprocess.run(["git", "config", "user.name", "bench"], cwd=path, check=True)
    subprocess.run(["git", "config", "user.email", "b@x"], cwd=path, check=True)
    (path / "train.py").write_text("print('train')\n")
    subprocess.run(["git", "add", "."], cwd=path, check=True, env=env)
    subprocess.run(["git", "commit", "-qm", "init"], cwd=path, check=True, env=env)


def log_runs(path: Path, n: int, steps: int, n_params: int = 10) -> list[str]:
    """Log ``n`` finished runs (workloads.md data) and return their ids."""
    from gittrack.api.client import Client
    from gittrack.core.entities import Metric, Param, RunTag

    client = Client(str(path))
    rng = random.Random(7)
    ids = []
    t0 = 1_700_000_000_000
    for i in range(n):
        run = client.create_run("0", run_name=f"run-{i}", start_time=t0 + i * 1000)
        rid = run.info.run_id
        metrics = [
            Metric(f"m{k}", rng.random(), t0 + i * 1000 + s, s)
            for s in range(steps)
            for k in range(5)
        ]
        for start in range(0, len(metrics), 1000):
            client.log_batch(
                rid,
                metrics=metrics[start : start + 1000],
                params=[Param(f"p{j}", f"v{(i + j) % 4}") for j in range(n_params)]
                if start == 0
                else (),
                tags=[
                    RunTag("team", f"team{i % 3}"),
                    RunTag("variant", "ab"[i % 2]),
                    RunTag("run_index", str(i)),
                ]
                if start == 0
                else (),
            )
        client.set_terminated(rid, end_time=t0 + i * 1000 + steps)
        ids.append(rid)
        if n >= 1000 and (i + 1) % 1000 == 0:
            print(f"  logged {i + 1:,} runs", file=sys.stderr)
    return ids


def dataset(base: Path, name: str, n: int, steps: int) -> tuple[Path, list[str]]:
    """The cached repository ``base/name`` with ``n`` runs, built on first use."""
    path = base / name
    done = path / ".git" / "w7-ids"
    if done.is_file():
        return path, done.read_text().split()
    if path.exists():
        import shutil

        shutil.rmtree(path)
    init_repo(path)
    t = time.perf_counter()
    ids = log_runs(path, n, steps)
    print(f"  built {name}: {n:,} runs in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    done.write_text("\n".join(ids))
    return path, ids


def start_ui(repo: Path) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gittrack",
            "ui",
            "--port",
            "0",
            "--no-browser",
            "--repo",
            str(repo),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=ROOT,
    )
    line = proc.stdout.readline()
    m = re.search(r"(http://127\.0\.0\.1:\d+)/", line)
    if not m:
        proc.kill()
        raise SystemExit(f"gittrack ui did not start: {line}")
    return proc, m.group(1)


def timed_load(page, url: str, wait_js: str) -> float:
    """Seconds from navigation start until ``wait_js`` is true in the page."""
    page.goto("about:blank")
    t = time.perf_counter()
    page.goto(url, wait_until="commit")
    page.wait_for_function(wait_js, timeout=120_000, polling="raf")
    return time.perf_counter() - t


FIRST_ROW = "document.querySelector('table.runs tbody tr[data-run]') !== null"
PAINTED = "performance.getEntriesByName('gt:runs:painted').length > 0"
MARKS = """([a, b]) => {
  const last = (n) => { const e = performance.getEntriesByName(n); return e[e.length - 1].startTime; };
  return (last(b) - last(a)) / 1000;
}"""
CHARTS = "document.querySelectorAll('.chart[data-drawn=\"1\"]').length === 5"


def measure(
    repo: Path, url_path: str, wait_js: str, reps: int, browser
) -> tuple[list[float], list[float]]:
    """(cold seconds, warm seconds): cold on a fresh server each rep, warm on reloads."""
    cold, warm = [], []
    for _ in range(reps):
        proc, base = start_ui(repo)
        try:
            ctx = browser.new_context(viewport={"width": 1400, "height": 900}, bypass_csp=True)
            page = ctx.new_page()
            cold.append(timed_load(page, base + url_path, wait_js))
            warm.append(timed_load(page, base + url_path, wait_js))
            ctx.close()
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    return cold, warm


def renderer_cpu(cdp) -> dict[str, float]:
    """The page's main-thread busy seconds so far (Chromium's Performance.getMetrics)."""
    got = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    return {k: got.get(k, 0.0) for k in ("TaskDuration", "ScriptDuration", "LayoutDuration")}


def measure_render(
    repo: Path, reps: int, browser
) -> tuple[list[float], list[float], list[dict[str, float]]]:
    """(first row s, data-to-painted s, main-thread busy s) of a 1,000-row page, on
    reloads of one server."""
    first, render, busy = [], [], []
    proc, base = start_ui(repo)
    try:
        ctx = browser.new_context(viewport={"width": 1400, "height": 900}, bypass_csp=True)
        page = ctx.new_page()
        cdp = ctx.new_cdp_session(page)
        cdp.send("Performance.enable")
        timed_load(page, base + "/#/runs?size=1000", FIRST_ROW)  # the server's first read
        for _ in range(reps):
            page.goto("about:blank")
            before = renderer_cpu(cdp)
            first.append(timed_load(page, base + "/#/runs?size=1000", FIRST_ROW))
            page.wait_for_function(PAINTED, timeout=120_000)
            render.append(page.evaluate(MARKS, ["gt:runs:data", "gt:runs:painted"]))
            after = renderer_cpu(cdp)
            busy.append({k: after[k] - before[k] for k in after})
        ctx.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return first, render, busy


def measure_zoom(repo: Path, url_path: str, reps: int, browser) -> list[float]:
    """Seconds from the end of a drag-zoom to the zoomed points painted, per rep."""
    out = []
    proc, base = start_ui(repo)
    try:
        ctx = browser.new_context(viewport={"width": 1400, "height": 900}, bypass_csp=True)
        page = ctx.new_page()
        for _ in range(reps):
            timed_load(page, base + url_path, CHARTS)
            page.locator(".chart[data-metric='m0']").scroll_into_view_if_needed()
            box = page.locator(".chart[data-metric='m0'] .u-over").bounding_box()
            y = box["y"] + box["height"] / 2
            page.mouse.move(box["x"] + box["width"] * 0.40, y)
            page.mouse.down()
            page.mouse.move(box["x"] + box["width"] * 0.45, y, steps=5)
            page.mouse.up()
            page.wait_for_function(
                "performance.getEntriesByName('gt:zoom:painted').length > 0", timeout=60_000
            )
            out.append(page.evaluate(MARKS, ["gt:zoom:start", "gt:zoom:painted"]))
        ctx.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return out


def mlflow_dataset(base: Path, name: str, n: int, steps: int) -> tuple[str, list[str]]:
    """An MLflow SQLite store ``base/name.db`` with the same runs, built on first use."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag

    db = base / f"{name}.db"
    done = base / f"{name}.ids"
    uri = f"sqlite:///{db}"
    if done.is_file():
        return uri, done.read_text().split()
    db.unlink(missing_ok=True)
    client = MlflowClient(tracking_uri=uri)
    rng = random.Random(7)
    t0 = 1_700_000_000_000
    ids = []
    t = time.perf_counter()
    for i in range(n):
        rid = client.create_run("0", run_name=f"run-{i}", start_time=t0 + i * 1000).info.run_id
        metrics = [
            Metric(f"m{k}", rng.random(), t0 + i * 1000 + s, s)
            for s in range(steps)
            for k in range(5)
        ]
        for start in range(0, len(metrics), 1000):
            client.log_batch(
                rid,
                metrics=metrics[start : start + 1000],
                params=[Param(f"p{j}", f"v{(i + j) % 4}") for j in range(10)] if start == 0 else [],
                tags=[
                    RunTag("team", f"team{i % 3}"),
                    RunTag("variant", "ab"[i % 2]),
                    RunTag("run_index", str(i)),
                ]
                if start == 0
                else [],
            )
        client.set_terminated(rid, end_time=t0 + i * 1000 + steps)
        ids.append(rid)
    print(f"  built MLflow {name}: {n:,} runs in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    done.write_text("\n".join(ids))
    return uri, ids


def start_mlflow(uri: str) -> tuple[subprocess.Popen, str]:
    import socket
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            uri,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: uvicorn runs as its child
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            urllib.request.urlopen(base + "/health", timeout=1).read()
            return proc, base
        except OSError:
            time.sleep(0.5)
    stop_mlflow(proc)
    raise SystemExit("mlflow server did not start")


def stop_mlflow(proc: subprocess.Popen) -> None:
    """End ``mlflow server`` and its uvicorn child (SIGKILL after 30 s of SIGTERM)."""
    import signal

    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        proc.wait()


MLFLOW_CHARTS = "document.querySelectorAll('.js-plotly-plot path.js-line').length >= 5"


def measure_mlflow(
    uri: str, url_path: str, wait_js: str, reps: int, browser
) -> tuple[list[float], list[float]]:
    cold, warm = [], []
    for _ in range(reps):
        proc, base = start_mlflow(uri)
        try:
            ctx = browser.new_context(viewport={"width": 1400, "height": 900})
            page = ctx.new_page()
            cold.append(timed_load(page, base + url_path, wait_js))
            warm.append(timed_load(page, base + url_path, wait_js))
            ctx.close()
        finally:
            stop_mlflow(proc)
    return cold, warm


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "gittrack-w7")
    ap.add_argument("--mlflow-runs", type=int, default=0, help="also time mlflow ui (0: skip)")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    args.data.mkdir(parents=True, exist_ok=True)
    many, _ = dataset(args.data, f"runs-{args.runs}", args.runs, 10)
    long, long_ids = dataset(args.data, "long-run", 1, 10_000)
    rows = []
    load_before = os.getloadavg()
    cpu0 = os.times()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        cold, warm = measure(many, "/#/runs", FIRST_ROW, args.reps, browser)
        rows.append((f"runs table, {args.runs:,} runs: first row", cold, warm, "<= 1 s"))
        first, render, busy = measure_render(many, args.reps, browser)
        rows.append(("1,000-row page: first row (reload)", None, first, ""))
        rows.append(("1,000-row page: data to rows painted", None, render, "<= 0.5 s"))
        for what in ("TaskDuration", "ScriptDuration", "LayoutDuration"):
            rows.append(
                (f"1,000-row page: page main thread {what}", None, [b[what] for b in busy], "")
            )
        cold, warm = measure(long, f"/#/run/{long_ids[0]}", CHARTS, args.reps, browser)
        rows.append(("run page, 5 metrics x 10,000 steps: charts drawn", cold, warm, "<= 1 s"))
        zoom = measure_zoom(long, f"/#/run/{long_ids[0]}", args.reps, browser)
        rows.append(("drag-zoom: drag end to zoomed points painted", None, zoom, "<= 0.2 s"))
        cpu1 = os.times()
        if args.mlflow_runs:
            n = args.mlflow_runs
            uri, _ = mlflow_dataset(args.data, f"mlflow-runs-{n}", n, 10)
            first = f"document.body.innerText.includes('run-{n - 1}')"
            cold, warm = measure_mlflow(uri, "/#/experiments/0/runs", first, args.reps, browser)
            rows.append((f"MLflow runs table, {n:,} runs: first row", cold, warm, ""))
            uri, ids = mlflow_dataset(args.data, "mlflow-long-run", 1, 10_000)
            url = f"/#/experiments/0/runs/{ids[0]}/model-metrics"
            cold, warm = measure_mlflow(uri, url, MLFLOW_CHARTS, args.reps, browser)
            rows.append(("MLflow run page, 5 metrics x 10,000 steps: charts", cold, warm, ""))
        browser.close()
    cpu = os.times()
    print(f"W7 UI (headless Chromium, {os.cpu_count()} cores, Python {sys.version.split()[0]})")
    print(f"{'page':<52} {'cold s (median)':>16} {'warm s (median)':>16}  target")
    medians = {}
    for name, cold, warm, target in rows:
        cold_s = f"{statistics.median(cold):.3f}" if cold else "-"
        medians[name] = statistics.median(warm)
        print(f"{name:<52} {cold_s:>16} {medians[name]:>16.3f}  {target}")
    print(f"({args.reps} repetitions; cold: freshly started `gittrack ui`; warm: page reload)")
    if args.mlflow_runs:
        mine = medians[f"runs table, {args.runs:,} runs: first row"]
        theirs = medians[f"MLflow runs table, {args.mlflow_runs:,} runs: first row"]
        print(
            f"warm first row: MLflow ({args.mlflow_runs:,} runs) / gittrack ({args.runs:,}): "
            f"{theirs / mine:.1f}x"
        )
        mine = medians["run page, 5 metrics x 10,000 steps: charts drawn"]
        theirs = medians["MLflow run page, 5 metrics x 10,000 steps: charts"]
        print(f"warm charts: MLflow / gittrack: {theirs / mine:.1f}x")

    def children(a: os.times_result, b: os.times_result) -> float:
        return (b.children_user - a.children_user) + (b.children_system - a.children_system)

    print(
        f"load average {load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after; "
        f"CPU (user+system) of the `gittrack ui` servers: {children(cpu0, cpu1):.1f} s"
        + (f", of the `mlflow server`s: {children(cpu1, cpu):.1f} s" if args.mlflow_runs else "")
    )


if __name__ == "__main__":
    main()
