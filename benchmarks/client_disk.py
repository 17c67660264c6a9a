"""Disk left by small runs written through each API, against MLflow's SQLite store.

Issue 16: ``.git`` must stay within 3× MLflow's SQLite file for the same 10,000 runs
*through every API*, with no manual ``git gc``. Each API writes ``--runs`` runs of W2's
shape (10 params, 5 metrics × 10 steps, 3 tags, FINISHED) into a fresh repository, in
a process of its own that then exits as a user's script would (its exit housekeeping —
``git gc --auto`` in the background — included); the script waits for any ``git gc``
still running, then reads ``git count-objects -v`` (loose objects are counted beyond the
project's own first commit, which git wrote) and the size of ``.git`` on disk:

- ``client``: ``gittrack.Client`` — ``create_run`` / ``log_batch`` / ``set_terminated``;
- ``rest``: ``gittrack server`` on a bare repository, MLflow's REST API over HTTP
  (``runs/create``, ``runs/log-batch``, ``runs/update``), the server stopped with SIGTERM;
- ``plugin``: ``mlflow.MlflowClient("gittrack://<repo>")`` — MLflow's own client through
  gittrack's plugin;
- ``fluent``: ``gittrack.start_run`` / ``log_params`` / ``set_tags`` / ``log_metric``.

MLflow's SQLite store holds the same runs (``benchmarks/w2_query.py``'s bulk fill).

    python benchmarks/client_disk.py --runs 10000 --apis client
    python benchmarks/client_disk.py --runs 1000 --apis client,rest,plugin,fluent
    python benchmarks/client_disk.py --quick     # 40 runs, every API, no MLflow
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import _common as c  # noqa: E402
import _w2data as data  # noqa: E402

APIS = ("client", "rest", "plugin", "fluent")
ENV = {
    **os.environ,
    "PYTHONPATH": str(ROOT),
    "GIT_TERMINAL_PROMPT": "0",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    **c.GIT_ENV,
}

# one writer process per API: argv[1] = repository (or server port), argv[2] = runs
# the same loop through gittrack's Client or MLflow's (the plugin): imports and client vary
_LOOP = """
import sys, random, logging, warnings
{imports}
sys.path.insert(0, {here!r}); import _w2data as d
cl = {client}; rng = random.Random(0)
for i in range(int(sys.argv[2])):
    rid = cl.create_run("0", run_name=f"run-{{i}}").info.run_id
    ms = [Metric(f"m{{m}}", rng.random(), 1700000000000 + i, s)
          for s in range(d.N_STEPS) for m in range(d.N_METRICS)]
    cl.log_batch(rid, metrics=ms, params=[Param(k, v) for k, v in d.params_for(i).items()],
                 tags=[RunTag(k, v) for k, v in d.tags_for(i).items()])
    cl.set_terminated(rid)
"""
_CLIENT = {
    "imports": "from gittrack import Client\n"
    "from gittrack.core.entities import Metric, Param, RunTag",
    "client": "Client(sys.argv[1])",
}
_PLUGIN = {
    "imports": 'logging.getLogger("mlflow").setLevel(logging.ERROR); warnings.filterwarnings("ignore")\n'
    "import mlflow\nfrom mlflow.entities import Metric, Param, RunTag",
    "client": 'mlflow.MlflowClient("gittrack://" + sys.argv[1])',
}

_REST = """
import sys, random, json, http.client
sys.path.insert(0, {here!r}); import _w2data as d
conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=300)
def call(path, body):
    conn.request("POST", "/api/2.0/mlflow" + path, body=json.dumps(body),
                 headers={{"Content-Type": "application/json"}})
    r = conn.getresponse(); payload = r.read()
    if r.status != 200:
        raise SystemExit(f"{{path}}: {{r.status}} {{payload[:300]!r}}")
    return json.loads(payload)
rng = random.Random(0)
for i in range(int(sys.argv[2])):
    rid = call("/runs/create", {{"experiment_id": "0", "run_name": f"run-{{i}}",
                                "start_time": 1700000000000 + i}})["run"]["info"]["run_id"]
    ms = [{{"key": f"m{{m}}", "value": rng.random(), "timestamp": 1700000000000 + i, "step": s}}
          for s in range(d.N_STEPS) for m in range(d.N_METRICS)]
    call("/runs/log-batch", {{"run_id": rid, "metrics": ms,
         "params": [{{"key": k, "value": v}} for k, v in d.params_for(i).items()],
         "tags": [{{"key": k, "value": v}} for k, v in d.tags_for(i).items()]}})
    call("/runs/update", {{"run_id": rid, "status": "FINISHED",
                          "end_time": 1700000000005 + i}})
"""


def wait_for_gc(git_dir: Path, timeout: float = 1800) -> float:
    """Wait until no ``git gc`` nor background ``git repack`` runs in ``git_dir``
    (``gc.pid``; a pack being written shows as a ``tmp_*``/``.tmp-*`` file); returns s."""
    t0 = time.perf_counter()
    pack_dir = git_dir / "objects" / "pack"
    quiet = 0
    while time.perf_counter() - t0 < timeout:
        busy = (git_dir / "gc.pid").exists() or any(
            p.name.startswith(("tmp_", ".tmp-")) for p in pack_dir.glob("*")
        )
        quiet = 0 if busy else quiet + 1
        if quiet >= 10:  # 2 s without any sign of maintenance
            break
        time.sleep(0.2)
    return time.perf_counter() - t0


def count_objects(git_dir: Path) -> dict[str, int]:
    out = subprocess.run(
        ["git", f"--git-dir={git_dir}", "count-objects", "-v"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {k: int(v) for k, v in (line.split(": ") for line in out.splitlines())}


def du_sh(path: Path) -> str:
    return subprocess.run(["du", "-sh", str(path)], capture_output=True, text=True).stdout.split()[
        0
    ]


def loose_ref_files(git_dir: Path) -> int:
    return sum(1 for p in (git_dir / "refs").rglob("*") if p.is_file())


def write_runs(api: str, work: Path, n: int) -> tuple[Path, float, float, int]:
    """Write ``n`` runs through ``api`` into a fresh repository; returns (.git, wall, CPU s
    of the writing processes, loose objects before: the project's own first commit)."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    before = 0
    c0, t0 = c.cpu_seconds(children_only=True), time.perf_counter()
    if api == "rest":
        import w5_server

        proc, port = w5_server.start_gittrack(work)
        try:
            code = _REST.format(here=str(HERE))
            subprocess.run([sys.executable, "-c", code, str(port), str(n)], env=ENV, check=True)
        finally:
            w5_server.stop(proc)
        git_dir = work / "gittrack.git"
    else:
        repo = work / "project"
        data.init_repo(repo)
        before = count_objects(repo / ".git")["count"]
        if api == "fluent":
            code = (
                f"import sys; sys.path.insert(0, {str(HERE)!r}); import _w2data as d; "
                f"from pathlib import Path; d.log_gittrack_runs(Path(sys.argv[1]), 0, int(sys.argv[2]))"
            )
        else:
            code = _LOOP.format(here=str(HERE), **(_CLIENT if api == "client" else _PLUGIN))
        subprocess.run(
            [sys.executable, "-c", code, str(repo), str(n)], env=ENV, cwd=repo, check=True
        )
        git_dir = repo / ".git"
    return git_dir, time.perf_counter() - t0, c.cpu_seconds(children_only=True) - c0, before


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--apis", default="client", help=f"comma-separated subset of {','.join(APIS)}")
    ap.add_argument("--work", type=Path, default=Path("/tmp/gittrack-bench-disk"))
    ap.add_argument("--no-mlflow", action="store_true", help="skip MLflow's SQLite store")
    ap.add_argument("--quick", action="store_true", help="40 runs, every API, no MLflow")
    ap.add_argument("--keep", action="store_true", help="keep the repositories")
    args = ap.parse_args()
    if args.quick:
        args.runs, args.apis, args.no_mlflow = 40, ",".join(APIS), True
    apis = [a for a in args.apis.split(",") if a]
    bad = set(apis) - set(APIS)
    if bad:
        raise SystemExit(f"unknown --apis {sorted(bad)}: choose from {', '.join(APIS)}")
    n = args.runs
    print(c.machine())
    sqlite = None
    if not args.no_mlflow:
        import w2_query

        args.work.mkdir(parents=True, exist_ok=True)
        uri = w2_query.mlflow_sqlite(args.work, n)
        sqlite = Path(uri[len("sqlite:///") :]).stat().st_size
        c.note(f"MLflow SQLite file, {n} runs: {sqlite / 2**20:.1f} MiB")
    rows = []
    for api in apis:
        git_dir, wall, cpu, before = write_runs(api, args.work / api, n)
        waited = wait_for_gc(git_dir)
        counts = count_objects(git_dir)
        state = c.dir_size(git_dir / "gittrack")
        size = c.dir_size(git_dir) - state
        # objects, packed and loose, must all be readable: every run is there
        refs = subprocess.run(
            ["git", f"--git-dir={git_dir}", "for-each-ref", "--format=x", "refs/gittrack/runs/"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.count("x")
        assert refs == n, f"{api}: {refs} run refs, expected {n}"
        fsck = subprocess.run(
            ["git", f"--git-dir={git_dir}", "fsck", "--connectivity-only", "--no-dangling"],
            capture_output=True,
            text=True,
        )
        assert fsck.returncode == 0, f"{api}: git fsck failed:\n{fsck.stderr[-2000:]}"
        c.note(
            f"{api}: {n} runs in {wall:.1f} s wall, {cpu:.1f} s CPU; waited {waited:.1f} s for "
            f"maintenance; count-objects {counts}; loose ref files {loose_ref_files(git_dir)}; "
            f"du -sh {du_sh(git_dir)}"
        )
        ratio = f"{size / sqlite:.2f}x" if sqlite else "-"
        rows.append(
            [
                api,
                f"{wall:.1f} / {cpu:.1f}",
                f"{max(0, counts['count'] - before)} (of {counts['count']})",
                f"{counts['packs']} ({counts['size-pack'] / 1024:.1f} MiB)",
                loose_ref_files(git_dir),
                f"{size / 2**20:.1f} MiB",
                du_sh(git_dir),
                f"{sqlite / 2**20:.1f} MiB" if sqlite else "-",
                ratio,
            ]
        )
        if not args.keep:
            shutil.rmtree(args.work / api, ignore_errors=True)
    c.print_table(
        f"{n} runs of W2's shape per API, no manual git gc (load average now "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())})",
        [
            "API",
            "write wall / CPU s",
            "loose objects added (of all)",
            "packs",
            "loose ref files",
            ".git less .git/gittrack",
            "du -sh .git",
            "MLflow SQLite",
            "ratio",
        ],
        rows,
    )


if __name__ == "__main__":
    main()
