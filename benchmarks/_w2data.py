"""W2's data: finished runs of the W1 shape (10 params, 5 metrics × 10 steps, 3 tags).

Written through gittrack's own fluent API (one process, runs one after another),
so the records are exactly what users produce.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path

N_PARAMS, N_METRICS, N_STEPS = 10, 5, 10


def params_for(i: int) -> dict[str, str]:
    return {f"p{j}": f"v{(i + j) % 4}" for j in range(N_PARAMS)}


def tags_for(i: int) -> dict[str, str]:
    return {"team": f"team{i % 3}", "variant": ["a", "b"][i % 2], "run_index": str(i)}


def init_repo(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "b@x",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "b@x",
    }
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=path, check=True)
    (path / "train.py").write_text("print('train')\n")
    subprocess.run(["git", "add", "."], cwd=path, check=True, env=env)
    subprocess.run(["git", "commit", "-qm", "init"], cwd=path, check=True, env=env)


def new_branch_commit(path: Path, branch: str) -> None:
    """Check out ``branch`` (created from main) and commit a change on it."""
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "b@x",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "b@x",
    }
    subprocess.run(["git", "checkout", "-q", "-B", branch, "main"], cwd=path, check=True)
    (path / f"{branch}.py").write_text(f"# {branch}\n")
    subprocess.run(["git", "add", "."], cwd=path, check=True, env=env)
    subprocess.run(["git", "commit", "-qm", branch], cwd=path, check=True, env=env)


def log_gittrack_runs(path: Path, start: int, n: int, seed: int = 0) -> float:
    """Log runs ``start .. start+n-1`` into the repository at ``path``; return seconds."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import gittrack

    os.chdir(path)
    rng = random.Random(seed + start)
    t0 = time.perf_counter()
    for i in range(start, start + n):
        with gittrack.start_run(run_name=f"run-{i}"):
            gittrack.log_params(params_for(i))
            gittrack.set_tags(tags_for(i))
            for step in range(N_STEPS):
                for m in range(N_METRICS):
                    gittrack.log_metric(f"m{m}", rng.random(), step=step)
    return time.perf_counter() - t0


def write_gittrack_runs(
    path: Path, start: int, n: int, seed: int = 0, per_pack: int = 1000
) -> float:
    """Runs ``start .. start+n-1`` as :func:`log_gittrack_runs` logs them (the same
    params, tags and seeded metric values, FINISHED, the working tree's snapshot as
    source), written through the pack writer (:class:`gittrack.core.bulk.Batch`,
    ``per_pack`` runs per pack, as ``gittrack import`` writes); return seconds."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import getpass
    import uuid

    from gittrack.core.bulk import Batch, FinishedRun, write_run
    from gittrack.core.repo import Repo
    from gittrack.core.snapshot import take_snapshot

    os.chdir(path)
    repo = Repo(path)
    source = take_snapshot(repo).to_record()
    user = getpass.getuser()
    rng = random.Random(seed + start)
    t0 = time.perf_counter()
    batch = Batch(repo)
    for i in range(start, start + n):
        begin = int(time.time() * 1000)
        points = [
            (f"m{m}", rng.random(), step, begin)
            for step in range(N_STEPS)
            for m in range(N_METRICS)
        ]
        run = FinishedRun(
            run_id=uuid.uuid4().hex, experiment_id="0", name=f"run-{i}", status="FINISHED",
            start_time=begin, end_time=begin + 5, user=user, source=source,
            source_name="train.py", source_type="LOCAL", params=params_for(i),
            tags=tags_for(i), points=points,
        )  # fmt: skip
        write_run(batch, run)
        if len(batch) >= per_pack or batch.full:
            batch.commit()
    batch.commit()
    batch.repair()
    return time.perf_counter() - t0
