"""Peak memory of logging and downloading one large artifact (streaming proof).

Usage: python benchmarks/artifacts_memory.py SIZE_MIB [--s3-endpoint URL --bucket NAME]

Creates a git repository in a temporary folder, logs a SIZE_MIB file (sparse:
reads as zeros, so making it costs no disk) into a run, downloads it back, and
prints one JSON line: sizes, seconds, and the process's peak RSS (ru_maxrss).
Run as a separate process so the peak belongs to this work alone.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def peak_rss_mib() -> float:
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("size_mib", type=int)
    ap.add_argument("--s3-endpoint")
    ap.add_argument("--bucket", default="bench")
    args = ap.parse_args()
    root = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root))
    with tempfile.TemporaryDirectory(prefix="gittrack-mem-") as tmp:
        repo = Path(tmp) / "repo"
        repo.mkdir()
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": "b",
            "GIT_AUTHOR_EMAIL": "b@x",
            "GIT_COMMITTER_NAME": "b",
            "GIT_COMMITTER_EMAIL": "b@x",
        }
        subprocess.run(["git", "init", "-q", str(repo)], check=True, env=env)
        subprocess.run(
            ["git", "-C", str(repo), "commit", "-q", "--allow-empty", "-m", "i"],
            check=True,
            env=env,
        )
        if args.s3_endpoint:
            subprocess.run(
                ["git", "-C", str(repo), "config", "gittrack.artifacts", f"s3://{args.bucket}/a"],
                check=True,
            )
            subprocess.run(
                [
                    "git",
                    "-C",
                    str(repo),
                    "config",
                    "gittrack.artifacts.endpoint-url",
                    args.s3_endpoint,
                ],
                check=True,
            )
            subprocess.run(
                ["git", "-C", str(repo), "config", "gittrack.artifacts.cache", "false"], check=True
            )
        big = Path(tmp) / "big.bin"
        with open(big, "wb") as f:
            f.truncate(args.size_mib * 1024 * 1024)
        os.chdir(repo)
        import gittrack

        base = peak_rss_mib()
        t0 = time.perf_counter()
        with gittrack.start_run() as run:
            gittrack.log_artifact(big)
        t1 = time.perf_counter()
        out = gittrack.download_artifacts(
            run_id=run.info.run_id, artifact_path="big.bin", dst_path=Path(tmp) / "dl"
        )
        t2 = time.perf_counter()
        ok = os.path.getsize(out) == big.stat().st_size
        print(
            json.dumps(
                {
                    "size_mib": args.size_mib,
                    "store": "s3" if args.s3_endpoint else "local",
                    "log_s": round(t1 - t0, 2),
                    "download_s": round(t2 - t1, 2),
                    "baseline_rss_mib": round(base, 1),
                    "peak_rss_mib": round(peak_rss_mib(), 1),
                    "size_ok": ok,
                }
            )
        )


if __name__ == "__main__":
    main()
