"""Benchmark ``gittrack sync``: a full sync of 10,000 runs and an incremental one.

Data: W2's runs (W1 shape with 10 steps: 10 params, 5 metrics x 10 steps,
3 tags, one 1 KiB artifact), written through gittrack's own API into a
repository cached under ``--data`` (built once; takes a few minutes).

For each target (SQLite file, PostgreSQL schema, MariaDB database on 127.0.0.1):
  full         sync of all runs into an empty database (runs/s)
  no-op        the same sync again (nothing changed)
  incremental  sync after 10 new runs were logged (target <= 1 s)
  incr. CLI    the same through ``python -m gittrack sync URL`` (process start included;
               also its CPU seconds, which depend less on the machine's load than wall time)
  cpu s        CPU seconds of this process during the full sync (the database server's not counted)
then the three example queries of docs/sql-schema.md, whose answers must be
the same on every target.

Usage::

    python benchmarks/sync_bench.py [--runs 10000] [--repeat 3] [--targets sqlite,postgresql,mariadb]
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

from _common import cpu_seconds  # noqa: E402

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
MARIADB = "mysql+pymysql://root@127.0.0.1:3306/test"
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
    from gittrack.api.client import Client

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


BRANCHES = ("main", "feature-x", "feature-y")


def build_repo(data: Path, n: int) -> Path:
    """The cached repository: ``n`` runs, a third each on three branches."""
    path = data / f"sync-{n}-3br"
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
    per = -(-n // len(BRANCHES))
    for b, branch in enumerate(BRANCHES):
        if branch != "main":
            git(path, "checkout", "-q", "-b", branch, "main")
            (path / f"{branch}.py").write_text(f"# {branch}\n")
            git(path, "add", ".")
            git(path, "commit", "-qm", branch)
        for start in range(b * per, min(n, (b + 1) * per), 1000):
            log_runs(path, start, min(1000, n - start, (b + 1) * per - start))
            print(f"  {branch}: {min(start + 1000, n, (b + 1) * per)} runs", file=sys.stderr)
    git(path, "checkout", "-q", "main")
    git(path, "pack-refs", "--all")
    print(f"built in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    done.write_text("ok\n")
    return path


def documented_queries() -> dict[str, str]:
    """The example queries of docs/sql-schema.md, on the W2 metrics (m0 for acc, m1 for loss)."""
    import re

    text = (ROOT / "docs" / "sql-schema.md").read_text()
    found = dict(re.findall(r"<!-- query: (\w+) -->\s*```sql\n(.*?)```", text, re.S))
    return {k: v.replace("'acc'", "'m0'").replace("'loss'", "'m1'") for k, v in found.items()}


def run_queries(url: str, run_id: str) -> tuple[dict[str, list], dict[str, float]]:
    """Answers and seconds of the documented queries at ``url``."""
    import sqlalchemy as sa

    answers, seconds = {}, {}
    eng = sa.create_engine(url)
    with eng.connect() as c:
        for name, sql in documented_queries().items():
            t0 = time.perf_counter()
            answers[name] = [tuple(r) for r in c.execute(sa.text(sql), {"run_id": run_id})]
            seconds[name] = time.perf_counter() - t0
    eng.dispose()
    return answers, seconds


class Target:
    """A fresh empty database per ``url()`` call: a SQLite file, a PostgreSQL
    schema or a MariaDB database (dropped again by ``cleanup``)."""

    def __init__(self, kind: str, tmp: Path) -> None:
        self.kind, self.tmp, self.made = kind, tmp, []

    def url(self) -> str:
        if self.kind == "sqlite":
            return f"sqlite:///{self.tmp / (uuid.uuid4().hex + '.db')}"
        import sqlalchemy as sa

        name = f"gt_bench_{uuid.uuid4().hex[:10]}"
        server = PG if self.kind == "postgresql" else MARIADB
        eng = sa.create_engine(server)
        with eng.begin() as c:
            c.exec_driver_sql(
                f"CREATE SCHEMA {name}" if self.kind == "postgresql" else f"CREATE DATABASE {name}"
            )
        eng.dispose()
        self.made.append(name)
        if self.kind == "postgresql":
            return f"{PG}?options=-csearch_path%3D{name}"
        return MARIADB.replace("/test", f"/{name}")

    def cleanup(self) -> None:
        if not self.made:
            return
        import sqlalchemy as sa

        eng = sa.create_engine(PG if self.kind == "postgresql" else MARIADB)
        with eng.begin() as c:
            for name in self.made:
                what = "SCHEMA" if self.kind == "postgresql" else "DATABASE"
                c.exec_driver_sql(f"DROP {what} {name}" + (" CASCADE" if what == "SCHEMA" else ""))
        eng.dispose()


def drop_runs(repo: Path, run_ids: list[str]) -> None:
    for rid in run_ids:
        git(repo, "update-ref", "-d", f"refs/gittrack/runs/{rid}")


def bench_target(kind: str, repo: Path, args: argparse.Namespace, tmp: Path) -> dict:
    """Full, no-op, incremental and CLI-incremental syncs into fresh ``kind`` databases."""
    from gittrack.core.reader import Store
    from gittrack.core.repo import Repo
    from gittrack.mirror.sync import sync_to

    target = Target(kind, tmp)
    out: dict = {"full": [], "full_cpu": [], "noop": [], "incr": [], "cli": [], "cli_cpu": []}
    try:
        for i in range(args.repeat):
            url = target.url()
            cpu = time.process_time()
            rep = sync_to(url, repo)
            out["full_cpu"].append(time.process_time() - cpu)
            assert len(rep.added) == args.runs and not rep.skipped, rep.summary()
            out["full"].append(rep.seconds)
            out["rows"] = sum(rep.rows.values())
            if i == 0:
                first = sorted(rep.added)[0]
                out["answers"], out["query_s"] = run_queries(url, first)
            out["noop"].append(sync_to(url, repo).seconds)
            before = set(Store(Repo(repo)).run_refs())
            log_runs(repo, args.runs, 10)
            new = sorted(set(Store(Repo(repo)).run_refs()) - before)
            rep = sync_to(url, repo)
            assert len(rep.added) == 10 and rep.unchanged == args.runs, rep.summary()
            out["incr"].append(rep.seconds)
            drop_runs(repo, new)
            log_runs(repo, args.runs, 10)
            new = sorted(set(Store(Repo(repo)).run_refs()) - before)
            t0 = time.perf_counter()
            before_cpu = cpu_seconds(children_only=True)
            proc = subprocess.run(
                [sys.executable, "-m", "gittrack", "sync", url],
                cwd=repo,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                capture_output=True,
                text=True,
            )
            out["cli"].append(time.perf_counter() - t0)
            out["cli_cpu"].append(cpu_seconds(children_only=True) - before_cpu)
            assert proc.returncode == 0 and "10 added" in proc.stdout, proc.stdout + proc.stderr
            drop_runs(repo, new)
    finally:
        target.cleanup()
    return out


def central_copy(repo: Path) -> Path:
    """A bare ``--mirror`` clone of ``repo``: packed objects, as on a central repository."""
    path = repo.with_name(repo.name + ".git")
    if not (path / "bench-complete").exists():
        subprocess.run(["rm", "-rf", str(path)], check=True)
        git(repo.parent, "clone", "-q", "--mirror", str(repo), str(path))
        (path / "bench-complete").write_text("ok\n")
    return path


def bench_central(kind: str, central: Path, args: argparse.Namespace, tmp: Path) -> list[float]:
    """Seconds of full syncs from the bare, packed clone into fresh ``kind`` databases."""
    from gittrack.mirror.sync import sync_to

    target = Target(kind, tmp)
    try:
        times = []
        for _ in range(args.repeat):
            rep = sync_to(target.url(), central)
            assert len(rep.added) == args.runs and not rep.skipped, rep.summary()
            times.append(rep.seconds)
        return times
    finally:
        target.cleanup()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--targets", default="sqlite,postgresql", help="of sqlite,postgresql,mariadb")
    ap.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "gittrack-bench")
    ap.add_argument(
        "--central",
        action="store_true",
        help="also: full syncs from a bare --mirror clone (packed objects, a central repository)",
    )
    args = ap.parse_args()
    os.environ.update(GIT_ENV)

    repo = build_repo(args.data, args.runs)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.targets.split(","):
            results[kind] = bench_target(kind, repo, args, Path(tmp))
            if args.central:
                results[kind]["central"] = bench_central(kind, central_copy(repo), args, Path(tmp))

    med = statistics.median
    print(
        f"\ngittrack sync, {args.runs} runs on {len(BRANCHES)} branches (W2 shape + 1 KiB "
        f"artifact), median of {args.repeat}, {os.cpu_count()} cores, "
        f"Python {sys.version.split()[0]}"
    )
    head = f"{'target':<12}{'rows':>9}{'full s':>9}{'runs/s':>9}{'cpu s':>8}{'no-op s':>9}"
    head += f"{'incr(10) s':>12}{'incr CLI s':>12}{'CLI cpu s':>11}"
    print(head)
    print("-" * len(head))
    for kind, r in results.items():
        print(
            f"{kind:<12}{r['rows']:>9}{med(r['full']):>9.2f}{args.runs / med(r['full']):>9.0f}"
            f"{med(r['full_cpu']):>8.1f}{med(r['noop']):>9.3f}{med(r['incr']):>12.3f}"
            f"{med(r['cli']):>12.3f}{med(r['cli_cpu']):>11.2f}"
        )
    if args.central:
        print("\nfull sync from a bare --mirror clone of the repository (packed objects):")
        for kind, r in results.items():
            t = med(r["central"])
            print(f"{kind:<12}{t:>9.2f} s {args.runs / t:>9.0f} runs/s")
    print("\ndocumented queries (docs/sql-schema.md; acc -> m0, loss -> m1), seconds:")
    names = sorted(documented_queries())
    print(f"{'target':<12}" + "".join(f"{n:>22}" for n in names))
    for kind, r in results.items():
        print(f"{kind:<12}" + "".join(f"{r['query_s'][n]:>22.3f}" for n in names))
    answers = [r["answers"] for r in results.values()]
    same = all(a == answers[0] for a in answers)
    sizes = ", ".join(f"{n}: {len(answers[0][n])} rows" for n in names)
    print(f"same answers on {', '.join(results)}: {'yes' if same else 'NO'} ({sizes})")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
