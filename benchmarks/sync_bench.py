"""Benchmark ``gittrack sync``: a full sync of 10,000 runs and an incremental one.

Data: W2's runs (W1 shape with 10 steps: 10 params, 5 metrics x 10 steps,
3 tags, one 1 KiB artifact), written through gittrack's own API into a
repository cached under ``--data`` (built once; takes a few minutes).

For each target (SQLite file, PostgreSQL schema on 127.0.0.1):
  full         sync of all runs into an empty database (runs/s)
  no-op        the same sync again (nothing changed)
  incremental  sync after 10 new runs were logged (target <= 1 s)
  incr. CLI    the same through ``python -m gittrack sync URL`` (process start included)

Usage::

    python benchmarks/sync_bench.py [--runs 10000] [--repeat 3] [--targets sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}


def git(path: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args],
        cwd=path,
        env={**os.environ, **GIT_ENV},
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def log_runs(path: Path, start: int, n: int) -> None:
    """Log runs ``start .. start+n-1`` (W2 shape plus a 1 KiB inline artifact)."""
    import gittrack
    from gittrack.client import Client

    os.chdir(path)
    rng = random.Random(start)
    client = Client(path)
    for i in range(start, start + n):
        with gittrack.start_run(run_name=f"run-{i}") as run:
            gittrack.log_params({f"p{j}": f"v{(i + j) % 4}" for j in range(10)})
            gittrack.set_tags({"team": f"team{i % 3}", "variant": "ab"[i % 2], "run_index": str(i)})
            for step in range(10):
                for m in range(5):
                    gittrack.log_metric(f"m{m}", rng.random(), step=step)
            data = rng.randbytes(1024)
            w = client.writer(run.info.run_id)
            w.put_record_file("artifacts/sample.bin", data)
            w.artifacts["sample.bin"] = {
                "sha256": hashlib.sha256(data).hexdigest(),
                "size": len(data),
                "where": "git",
            }
            w.mark_dirty()


def build_repo(data: Path, n: int) -> Path:
    path = data / f"sync-{n}"
    done = path / ".bench-complete"
    if done.exists():
        return path
    if path.exists():
        subprocess.run(["rm", "-rf", str(path)], check=True)
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    (path / "train.py").write_text("print('train')\n")
    git(path, "add", ".")
    git(path, "commit", "-qm", "init")
    t0 = time.perf_counter()
    print(f"building {n} runs in {path} ...", file=sys.stderr)
    for start in range(0, n, 1000):
        log_runs(path, start, min(1000, n - start))
        print(f"  {min(start + 1000, n)} runs", file=sys.stderr)
    git(path, "pack-refs", "--all")
    print(f"built in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    done.write_text("ok\n")
    return path


class Target:
    """A fresh empty database per ``url()`` call."""

    def __init__(self, kind: str, tmp: Path) -> None:
        self.kind, self.tmp, self.made = kind, tmp, []

    def url(self) -> str:
        if self.kind == "sqlite":
            return f"sqlite:///{self.tmp / (uuid.uuid4().hex + '.db')}"
        import sqlalchemy as sa

        name = f"gt_bench_{uuid.uuid4().hex[:10]}"
        eng = sa.create_engine(PG)
        with eng.begin() as c:
            c.exec_driver_sql(f"CREATE SCHEMA {name}")
        eng.dispose()
        self.made.append(name)
        return f"{PG}?options=-csearch_path%3D{name}"

    def cleanup(self) -> None:
        if not self.made:
            return
        import sqlalchemy as sa

        eng = sa.create_engine(PG)
        with eng.begin() as c:
            for name in self.made:
                c.exec_driver_sql(f"DROP SCHEMA {name} CASCADE")
        eng.dispose()


def drop_runs(repo: Path, run_ids: list[str]) -> None:
    for rid in run_ids:
        git(repo, "update-ref", "-d", f"refs/gittrack/runs/{rid}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--targets", default="sqlite,postgresql")
    ap.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "gittrack-bench")
    args = ap.parse_args()
    os.environ.update(GIT_ENV)

    from gittrack.repo import Repo
    from gittrack.store import Store
    from gittrack.sync import sync_to

    repo = build_repo(args.data, args.runs)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.targets.split(","):
            target = Target(kind, Path(tmp))
            full, noop, incr, cli = [], [], [], []
            try:
                for _ in range(args.repeat):
                    url = target.url()
                    rep = sync_to(url, repo)
                    assert len(rep.added) == args.runs and not rep.skipped, rep.summary()
                    full.append(rep.seconds)
                    noop.append(sync_to(url, repo).seconds)
                    before = set(Store(Repo(repo)).run_refs())
                    log_runs(repo, args.runs, 10)
                    new = sorted(set(Store(Repo(repo)).run_refs()) - before)
                    rep = sync_to(url, repo)
                    assert len(rep.added) == 10, rep.summary()
                    incr.append(rep.seconds)
                    drop_runs(repo, new)
                    log_runs(repo, args.runs, 10)
                    new = sorted(set(Store(Repo(repo)).run_refs()) - before)
                    t0 = time.perf_counter()
                    out = subprocess.run(
                        [sys.executable, "-m", "gittrack", "sync", url],
                        cwd=repo,
                        env={**os.environ, "PYTHONPATH": str(ROOT)},
                        capture_output=True,
                        text=True,
                    )
                    cli.append(time.perf_counter() - t0)
                    assert out.returncode == 0 and "10 added" in out.stdout, out.stdout + out.stderr
                    drop_runs(repo, new)
            finally:
                target.cleanup()
            rows = rep.rows
            results.append((kind, full, noop, incr, cli))
            del rows

    med = statistics.median
    print(
        f"\ngittrack sync, {args.runs} runs (W2 shape + 1 KiB artifact), "
        f"median of {args.repeat}, {os.cpu_count()} cores, Python {sys.version.split()[0]}"
    )
    header = f"{'target':<12}{'full s':>9}{'runs/s':>9}{'no-op s':>9}{'incr(10) s':>12}{'incr CLI s':>12}"
    print(header)
    print("-" * len(header))
    for kind, full, noop, incr, cli in results:
        print(
            f"{kind:<12}{med(full):>9.2f}{args.runs / med(full):>9.0f}{med(noop):>9.3f}"
            f"{med(incr):>12.3f}{med(cli):>12.3f}"
        )


if __name__ == "__main__":
    main()
