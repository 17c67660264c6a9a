"""Fault runs: loggers beside ``git gc``, and SIGKILL at full logging speed.

gc — 4 logger processes (two through the fluent API, two through ``Client``) start,
log and end runs for ``GITTRACK_FAULT_SECONDS`` (default 30) seconds with
``checkpoint-seconds 0.2``, while this process runs ``git gc`` and
``git gc --prune=now`` in turn in a loop in the same repository. Reported: logger
errors (a non-zero exit or anything on stderr), runs ended, runs whose
``metrics.yaml`` counts differ from their history lines or from the points logged,
and ``git fsck --full``.

kill — one process logs one metric through the fluent API as fast as it can with
``checkpoint-seconds 1`` (publishing how many points it has logged through a shared
page); after a random 2–6 s it is SIGKILLed. Kept = points of the run's committed
history (steps 0..kept-1, contiguous); "logged by kill − 1 interval" and
"− 2 intervals" are what the process had logged by those moments (sampled every
10 ms). The promise: kept ≥ logged by kill − 2 intervals (the last interval may be
in flight, the one before it is committed).

cost — 1,000,000 points through the fluent API with no checkpoint until ``end_run``:
the logging loop and the final checkpoint, each per point, and the objects left
(``git count-objects -v``: loose objects, packs).

    python benchmarks/faults.py                     # gc 30 s, 5 kills
    GITTRACK_FAULT_SECONDS=15 python benchmarks/faults.py --kills 3
    python benchmarks/faults.py --quick             # gc 4 s, 1 kill, 50,000 points
    python benchmarks/faults.py --only cost         # log vs checkpoint cost per point
    python benchmarks/faults.py --json              # one JSON document instead of tables
"""

from __future__ import annotations

import argparse
import json
import mmap
import os
import random
import signal
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as c  # noqa: E402

c.setup_path()

POINTS_PER_RUN = 3000
KILL_INTERVAL = 1.0

LOGGER = textwrap.dedent(
    """
    import sys, time
    import gittrack
    from gittrack.api.client import Client

    api, deadline, points = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    client = Client()
    ended = []
    while time.time() < deadline:
        if api == "fluent":
            with gittrack.start_run() as active:
                for i in range(points):
                    gittrack.log_metric("loss", 1.0 / (i + 1), step=i)
                    gittrack.log_metric("acc", i / points, step=i)
                    if i % 500 == 499:
                        time.sleep(0.05)
            ended.append(active.info.run_id)
        else:
            run_id = client.create_run("0").info.run_id
            for i in range(points):
                client.log_metric(run_id, "loss", 1.0 / (i + 1), step=i)
                client.log_metric(run_id, "acc", i / points, step=i)
                if i % 500 == 499:
                    time.sleep(0.05)
            client.set_terminated(run_id)
            ended.append(run_id)
    print(" ".join(ended))
    """
)

FAST_LOGGER = textwrap.dedent(
    """
    import mmap, struct, sys
    import gittrack

    with open(sys.argv[1], "r+b") as fh:
        page = mmap.mmap(fh.fileno(), 8)
    gittrack.start_run()
    log = gittrack.log_metric
    i = 0
    while True:
        log("x", float(i), step=i)
        i += 1
        if not i & 255:
            page[:8] = struct.pack("q", i)
    """
)


def check_runs(repo: Path, expected: dict[str, int]) -> tuple[int, list[str]]:
    """(finished runs checked, problems) for every run ref of ``repo``."""
    from gittrack.api.client import Client

    client = Client(str(repo))
    problems = []
    checked = 0
    for run in client.list_runs():
        rid = run.info.run_id
        if run.info.status != "FINISHED":
            continue
        checked += 1
        head = client.repo.git.references[f"refs/gittrack/runs/{rid}"].target
        rec = client.store.read_record(str(head))
        for key in ("loss", "acc"):
            count = (rec["metrics"].get(key) or {}).get("count")
            lines = len(client.get_metric_history(rid, key))
            want = expected.get(rid, POINTS_PER_RUN)
            if count != lines or lines != want:
                problems.append(
                    f"{rid} {key}: metrics.yaml {count}, history {lines}, logged {want}"
                )
    return checked, problems


def gc_fault(seconds: float, loggers: int = 4) -> dict[str, Any]:
    """Loggers beside a ``git gc`` loop; returns the figures."""
    with c.temp_dir("faults-gc") as d:
        repo = c.make_git_repo(d / "project")
        c.git(repo, "config", "gittrack.checkpoint-seconds", "0.2")
        deadline = time.time() + seconds
        procs = []
        for k in range(loggers):
            api = "fluent" if k % 2 == 0 else "client"
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", LOGGER, api, str(deadline), str(POINTS_PER_RUN)],
                    cwd=repo,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    env={**os.environ, **c.GIT_ENV},
                )
            )
        gcs = gc_errors = 0
        gc_messages: list[str] = []
        while any(p.poll() is None for p in procs):
            args = ["gc", "--quiet"] + (["--prune=now"] if gcs % 2 else [])
            res = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
            gcs += 1
            if res.returncode:
                gc_errors += 1
                gc_messages.append(res.stderr.strip()[:200])
        errors: list[str] = []
        ended: dict[str, int] = {}
        for p in procs:
            out, err = p.communicate()
            if p.returncode or err.strip():
                errors.append(f"exit {p.returncode}: {err.strip()[-500:]}")
            for rid in out.split():
                ended[rid] = POINTS_PER_RUN
        fsck = subprocess.run(
            ["git", "fsck", "--full", "--no-dangling"], cwd=repo, capture_output=True, text=True
        )
        try:
            checked, problems = check_runs(repo, ended)
        except Exception as exc:  # a run that cannot be read at all is a failure too
            checked, problems = 0, [f"reading the runs failed: {exc}"]
        refs = subprocess.run(
            ["git", "for-each-ref", "--format=%(refname)"], cwd=repo, capture_output=True, text=True
        ).stdout.split()
        missing = [rid for rid in ended if f"refs/gittrack/runs/{rid}" not in refs]
        return {
            "seconds": seconds,
            "loggers": loggers,
            "gc_runs": gcs,
            "gc_errors": gc_errors,
            "gc_messages": gc_messages[:3],
            "logger_errors": errors,
            "runs_ended": len(ended),
            "finished_checked": checked,
            "incomplete_runs": problems + [f"{rid}: no ref" for rid in missing],
            "fsck_ok": fsck.returncode == 0 and not fsck.stdout.strip(),
            "fsck_output": (fsck.stdout + fsck.stderr).strip()[:500],
        }


def kill_once(delay: float, interval: float = KILL_INTERVAL) -> dict[str, Any]:
    """Log at full speed, SIGKILL after ``delay`` s; returns kept vs the bound."""
    from gittrack.api.client import Client

    with c.temp_dir("faults-kill") as d:
        repo = c.make_git_repo(d / "project")
        c.git(repo, "config", "gittrack.checkpoint-seconds", str(interval))
        c.git(repo, "config", "gittrack.auto-gc", "false")
        counter = d / "counter"
        counter.write_bytes(b"\0" * 8)
        with open(counter, "r+b") as fh:
            page = mmap.mmap(fh.fileno(), 8)
        proc = subprocess.Popen(
            [sys.executable, "-c", FAST_LOGGER, str(counter)],
            cwd=repo,
            env={**os.environ, **c.GIT_ENV},
            stderr=subprocess.PIPE,
        )
        samples: list[tuple[float, int]] = []
        started = None
        while True:
            now = time.time()
            n = struct.unpack("q", page[:8])[0]
            samples.append((now, n))
            if started is None and n > 0:
                started = now
            if started is not None and now - started >= delay:
                break
            if proc.poll() is not None:
                raise RuntimeError(f"logger died: {proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.01)
        kill_at = time.time()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        after = struct.unpack("q", page[:8])[0]

        def logged_by(t: float) -> int:
            return max((n for when, n in samples if when <= t), default=0)

        client = Client(str(repo))
        runs = client.list_runs()
        kept = 0
        contiguous = True
        if runs:
            steps = [m.step for m in client.get_metric_history(runs[0].info.run_id, "x")]
            kept = len(steps)
            contiguous = steps == list(range(kept))
        bound = logged_by(kill_at - 2 * interval)
        return {
            "after_s": round(kill_at - (started or kill_at), 2),
            "logged": after,
            "kept": kept,
            "kept_pct": round(100.0 * kept / after, 1) if after else 0.0,
            "logged_by_kill_minus_1": logged_by(kill_at - interval),
            "logged_by_kill_minus_2": bound,
            "contiguous": contiguous,
            "ok": contiguous and kept >= bound,
        }


COST = textwrap.dedent(
    """
    import json, sys, time
    import gittrack
    n = int(sys.argv[1])
    run = gittrack.start_run()
    log = gittrack.log_metric
    t0 = time.perf_counter()
    for i in range(n):
        log("x", i * 0.5, step=i)
    t1 = time.perf_counter()
    gittrack.end_run()
    t2 = time.perf_counter()
    print(json.dumps({"log_us": 1e6 * (t1 - t0) / n, "checkpoint_us": 1e6 * (t2 - t1) / n}))
    """
)


def checkpoint_cost(n: int) -> dict[str, Any]:
    """Per point: the fluent logging loop, and the final checkpoint of all ``n`` points
    (``end_run``; nothing committed before it), plus the objects the run left."""
    with c.temp_dir("faults-cost") as d:
        repo = c.make_git_repo(d / "project")
        c.git(repo, "config", "gittrack.checkpoint-seconds", "100000")
        c.git(repo, "config", "gittrack.auto-gc", "false")
        c.git(repo, "gc", "-q")
        out = subprocess.run(
            [sys.executable, "-c", COST, str(n)],
            cwd=repo,
            capture_output=True,
            text=True,
            env={**os.environ, **c.GIT_ENV},
            check=True,
        )
        got = json.loads(out.stdout)
        counts = dict(line.split(": ") for line in c.git(repo, "count-objects", "-v").splitlines())
        got.update(points=n, loose=int(counts["count"]), packs=int(counts["packs"]))
        return got


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="gc 4 s, 1 kill")
    ap.add_argument("--kills", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=None, help="gc fault duration")
    ap.add_argument("--only", choices=("gc", "kill", "cost"), default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    seconds = args.seconds or float(os.environ.get("GITTRACK_FAULT_SECONDS", "30"))
    kills = args.kills
    if args.quick:
        seconds, kills = 4.0, 1
    out: dict[str, Any] = {"machine": c.machine()}
    if args.only in (None, "gc"):
        out["gc"] = gc_fault(seconds)
    if args.only in (None, "cost"):
        out["cost"] = checkpoint_cost(50_000 if args.quick else 1_000_000)
    if args.only in (None, "kill"):
        rnd = random.Random(c.SEED)
        out["kill"] = [kill_once(rnd.uniform(2.0, 6.0)) for _ in range(kills)]
    if args.json:
        print(json.dumps(out, indent=1))
        return
    print(out["machine"])
    if "gc" in out:
        g = out["gc"]
        c.print_table(
            f"git gc / gc --prune=now in a loop beside {g['loggers']} loggers, {g['seconds']:g} s",
            ["figure", "value"],
            [
                ["gc runs (errors)", f"{g['gc_runs']} ({g['gc_errors']})"],
                ["logger errors", len(g["logger_errors"])],
                ["runs ended", g["runs_ended"]],
                ["FINISHED runs checked", g["finished_checked"]],
                ["incomplete runs", len(g["incomplete_runs"])],
                ["git fsck --full", "clean" if g["fsck_ok"] else g["fsck_output"]],
            ],
        )
        for line in g["logger_errors"][:5] + g["incomplete_runs"][:5]:
            print("  " + line)
    if "cost" in out:
        k = out["cost"]
        c.print_table(
            f"cost per point, fluent API, {k['points']:,} points of one metric",
            ["log_metric µs/point", "checkpoint µs/point", "loose objects", "packs"],
            [[k["log_us"], k["checkpoint_us"], k["loose"], k["packs"]]],
        )
    if "kill" in out:
        c.print_table(
            f"SIGKILL at full speed, checkpoint-seconds {KILL_INTERVAL:g}",
            ["kill after s", "logged", "kept", "kept %", "by kill-1 interval", "by kill-2", "ok"],
            [
                [
                    k["after_s"],
                    k["logged"],
                    k["kept"],
                    k["kept_pct"],
                    k["logged_by_kill_minus_1"],
                    k["logged_by_kill_minus_2"],
                    "yes" if k["ok"] else "NO",
                ]
                for k in out["kill"]
            ],
        )


if __name__ == "__main__":
    main()
