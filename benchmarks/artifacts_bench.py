"""Artifacts: gittrack vs MLflow logging and downloading the same files.

Workloads: 1,000 small files (1-8 KiB, one ``log_artifacts`` call) and one large
file (default 1 GiB, one ``log_artifact`` call); each logged into a new run and
downloaded back into an empty folder. Stores: a local folder, S3 through a
moto server on 127.0.0.1 (gittrack via s3fs, MLflow via boto3), and, for
gittrack only, Azure Blob through Azurite (``az``, adlfs) and Google Cloud
Storage through gcp-storage-emulator (``gs``, gcsfs), the emulators the tests
use (``tests/cloudservers.py``). MLflow uses its SQLite tracking store and the
same artifact location kind.

Every (tool, store, workload, repetition) runs in its own process, so the peak
RSS it reports is that work's alone; stores start empty each time (no
deduplication across repetitions), and gittrack's download is cold (its local
cache emptied). Before each timed phase (log, download) the worker calls ``os.sync()``,
outside the timing, for both tools: a phase starts with no dirty pages of earlier
work to wait behind (without it, a download after a fast 1 GiB log waited for that
gigabyte's writeback, and the tool measured after another paid for its writeback).
Prints a table of medians.

Usage: python benchmarks/artifacts_bench.py [--reps 3] [--big-mib 1024]
       [--stores local,s3,az,gs] [--tools gittrack,mlflow] [--workloads small,big]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLOUD_STORES = ("az", "gs")  # gittrack only: emulators from tests/cloudservers.py
GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}


def rss_mib() -> float:
    """Peak RSS of this process in MiB: VmHWM (ru_maxrss would include the RSS of the
    parent this process was forked from, which Linux carries across exec)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- one measurement, in its own process ----------------------------------------


def worker(args: argparse.Namespace) -> None:
    work = Path(args.workdir)
    data = Path(args.data)
    src = data / ("small" if args.workload == "small" else "big.bin")
    dst = work / "download"
    if args.tool == "gittrack":
        sys.path.insert(0, str(ROOT))
        repo = work / "repo"
        repo.mkdir()
        env = {**os.environ, **GIT_ENV}
        subprocess.run(["git", "init", "-q", str(repo)], check=True, env=env)
        subprocess.run(
            ["git", "-C", str(repo), "commit", "-q", "--allow-empty", "-m", "i"],
            check=True,
            env=env,
        )
        if args.store == "s3":
            for k, v in (
                ("gittrack.artifacts", f"s3://{args.bucket}/gittrack"),
                ("gittrack.artifacts.endpoint-url", args.endpoint),
            ):
                subprocess.run(["git", "-C", str(repo), "config", k, v], check=True)
        elif args.store in CLOUD_STORES:  # endpoint and credentials: the environment
            url = f"{args.store}://{args.bucket}/gittrack"
            subprocess.run(
                ["git", "-C", str(repo), "config", "gittrack.artifacts", url], check=True
            )
        if args.inline_limit is not None:
            subprocess.run(
                [
                    "git",
                    "-C",
                    str(repo),
                    "config",
                    "gittrack.artifacts.inline-limit",
                    str(args.inline_limit),
                ],
                check=True,
            )
        os.chdir(repo)
        import gittrack
        from gittrack.artifacts.storage import storage_for  # noqa: F401  (import cost outside timing)

        if args.store != "local":
            import fsspec

            fsspec.get_filesystem_class(args.store)  # the backend's import cost outside timing

        base = rss_mib()
        os.sync()  # no writeback of earlier work (another tool's, a previous phase's) to wait behind
        t0 = time.perf_counter()
        with gittrack.start_run() as run:
            if args.workload == "small":
                gittrack.log_artifacts(src, "small")
            else:
                gittrack.log_artifact(src)
        t1 = time.perf_counter()
        shutil.rmtree(
            repo / ".git" / "gittrack" / "objects", ignore_errors=True
        ) if args.store != "local" else None
        os.sync()
        t2 = time.perf_counter()
        gittrack.download_artifacts(run_id=run.info.run_id, dst_path=dst)
        t3 = time.perf_counter()
    else:
        import mlflow

        if args.store == "s3":
            import boto3  # noqa: F401

            location = f"s3://{args.bucket}/mlflow"
        else:
            location = (work / "mlartifacts").as_uri()
        mlflow.set_tracking_uri(f"sqlite:///{work / 'mlflow.db'}")
        exp = mlflow.create_experiment("bench", artifact_location=location)
        base = rss_mib()
        os.sync()
        t0 = time.perf_counter()
        with mlflow.start_run(experiment_id=exp) as run:
            if args.workload == "small":
                mlflow.log_artifacts(str(src), "small")
            else:
                mlflow.log_artifact(str(src))
        t1 = time.perf_counter()
        os.sync()
        t2 = time.perf_counter()
        mlflow.artifacts.download_artifacts(
            run_id=run.info.run_id, artifact_path="", dst_path=str(dst)
        )
        t3 = time.perf_counter()
    n = sum(1 for p in dst.rglob("*") if p.is_file())
    print(
        json.dumps(
            {
                "log_s": t1 - t0,
                "download_s": t3 - t2,
                "files": n,
                "base_rss": base,
                "peak_rss": rss_mib(),
            }
        )
    )


# --- the driver ----------------------------------------------------------------


def make_data(data: Path, big_mib: int) -> None:
    import random

    small = data / "small"
    if not small.exists():
        rng = random.Random(0)
        for i in range(1000):
            d = small / f"d{i % 10}"
            d.mkdir(parents=True, exist_ok=True)
            (d / f"f{i:04d}.txt").write_bytes(os.urandom(rng.randint(1024, 8192)))
    big = data / "big.bin"
    if not big.exists() or big.stat().st_size != big_mib * 1024 * 1024:
        with open(big, "wb") as f:
            for _ in range(big_mib):
                f.write(os.urandom(1024 * 1024))


def run_one(
    tool: str,
    store: str,
    workload: str,
    data: Path,
    server,
    rep: int,
    inline_limit: int | None = None,
) -> dict:
    bucket = f"bench-{tool}-{workload}-{rep}"
    env = dict(os.environ)
    if store == "s3":
        server.make_bucket(bucket)
        env["MLFLOW_S3_ENDPOINT_URL"] = server.endpoint
    elif store in CLOUD_STORES:
        if store == "az":
            server.make_container(bucket)
        else:
            server.make_bucket(bucket)
        env.update(server.env())
    with tempfile.TemporaryDirectory(prefix="gt-bench-", dir=data) as work:
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--worker",
                "--tool",
                tool,
                "--store",
                store,
                "--workload",
                workload,
                "--data",
                str(data),
                "--workdir",
                work,
                "--bucket",
                bucket,
                "--endpoint",
                server.endpoint if server else "",
            ],
            capture_output=True,
            text=True,
            env=env,
        )
    if store == "s3":
        c = server.client()
        for page in c.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for o in page.get("Contents", []):
                c.delete_object(Bucket=bucket, Key=o["Key"])
    elif store in CLOUD_STORES:
        for key in server.keys(bucket):
            server.delete(bucket, key)
    if out.returncode != 0:
        raise SystemExit(f"{tool}/{store}/{workload} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def start_servers(stores: list[str]) -> dict[str, object]:
    """A running server (moto, Azurite, GCS emulator) for each remote store asked for."""
    from tests.cloudservers import AzuriteServer, GcsServer
    from tests.s3server import S3Server

    unknown = set(stores) - {"local", "s3", *CLOUD_STORES}
    if unknown:
        raise SystemExit(f"unknown store(s) {sorted(unknown)}: use local, s3, az, gs")
    kinds = {"s3": S3Server, "az": AzuriteServer, "gs": GcsServer}
    return {store: kinds[store]().start() for store in stores if store in kinds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--tool")
    ap.add_argument("--store")
    ap.add_argument("--workload")
    ap.add_argument("--data")
    ap.add_argument("--workdir")
    ap.add_argument("--bucket")
    ap.add_argument("--endpoint")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument(
        "--inline-limit",
        type=int,
        default=None,
        help="gittrack's inline limit (0 sends every file to the store; default 1 MiB keeps small files in git)",
    )
    ap.add_argument("--big-mib", type=int, default=1024)
    ap.add_argument("--stores", default="local,s3")
    ap.add_argument("--tools", default="gittrack,mlflow")
    ap.add_argument("--workloads", default="small,big")
    ap.add_argument("--data-dir", default=None, help="where test data and work folders go")
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return
    sys.path.insert(0, str(ROOT))
    from tests.s3server import CREDENTIALS

    os.environ.update(CREDENTIALS)
    data = Path(args.data_dir or tempfile.mkdtemp(prefix="gt-bench-data-"))
    data.mkdir(parents=True, exist_ok=True)
    make_data(data, args.big_mib)
    stores = args.stores.split(",")
    servers = start_servers(stores)
    results: dict[tuple[str, str, str], list[dict]] = {}
    try:
        for store in stores:
            server = servers.get(store)
            for workload in args.workloads.split(","):
                for rep in range(args.reps):
                    for tool in args.tools.split(","):
                        if tool != "gittrack" and store in CLOUD_STORES:
                            continue  # MLflow is measured on local and S3 only
                        r = run_one(tool, store, workload, data, server, rep, args.inline_limit)
                        results.setdefault((store, workload, tool), []).append(r)
                        print(
                            f"# {store} {workload} {tool} rep {rep}: {json.dumps(r)}",
                            file=sys.stderr,
                        )
    finally:
        for server in servers.values():
            server.stop()
    label = {"small": "1,000 small files", "big": f"1 file of {args.big_mib} MiB"}
    print(f"{args.reps} rep(s), medians; {label['big']}")
    print(
        f"{'store':6} {'workload':20} {'tool':9} {'log s':>8} {'download s':>11} {'peak RSS MiB':>13} {'RSS growth MiB':>15}"
    )
    for (store, workload, tool), rs in results.items():
        med = {k: statistics.median(r[k] for r in rs) for k in ("log_s", "download_s", "peak_rss")}
        growth = statistics.median(r["peak_rss"] - r["base_rss"] for r in rs)
        print(
            f"{store:6} {label[workload]:20} {tool:9} {med['log_s']:8.2f} {med['download_s']:11.2f} {med['peak_rss']:13.0f} {growth:15.0f}"
        )
    print("ratios (MLflow time / gittrack time, > 1 means gittrack is faster):")
    for store in stores:
        for workload in args.workloads.split(","):
            g, m = (
                results.get((store, workload, "gittrack")),
                results.get((store, workload, "mlflow")),
            )
            if g and m:
                lr = statistics.median(r["log_s"] for r in m) / statistics.median(
                    r["log_s"] for r in g
                )
                dr = statistics.median(r["download_s"] for r in m) / statistics.median(
                    r["download_s"] for r in g
                )
                print(f"  {store:6} {label[workload]:20} log {lr:5.2f}x  download {dr:5.2f}x")
    if not args.data_dir:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
