"""Shared helpers of the benchmark scripts: temp repositories, the workloads' data
rules, timing, medians and table printing.

Data rules (``/work/shared/design/workloads.md``), so gittrack and MLflow log the
same thing: param ``p{j}`` = ``"v{(i+j) % 4}"`` for run ``i``; metric values
uniform in [0, 1) from a seeded RNG; tags ``team``, ``variant``, ``run_index``.
"""

from __future__ import annotations

import contextlib
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SEED = 20261126

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@gittrack.invalid",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@gittrack.invalid",
}


def setup_path() -> None:
    """Make ``import gittrack`` resolve to this checkout (it is not pip-installed)."""
    root = str(ROOT)
    if root not in sys.path:
        sys.path.insert(0, root)
    pp = os.environ.get("PYTHONPATH", "")
    if root not in pp.split(os.pathsep):
        os.environ["PYTHONPATH"] = root + (os.pathsep + pp if pp else "")


# -- the workloads' data rules ----------------------------------------------------------


def params_for(i: int, n: int = 10) -> dict[str, str]:
    """Params of run ``i``: ``p{j}`` = ``"v{(i+j) % 4}"``."""
    return {f"p{j}": f"v{(i + j) % 4}" for j in range(n)}


def tags_for(i: int) -> dict[str, str]:
    """Tags of run ``i``: team, variant, run_index."""
    return {"team": f"team-{i % 3}", "variant": "ab"[i % 2], "run_index": str(i)}


def rng(seed: int = SEED) -> random.Random:
    """The seeded RNG metric values come from (uniform in [0, 1))."""
    return random.Random(seed)


def metric_values(n: int, seed: int = SEED) -> list[float]:
    """``n`` metric values from the seeded RNG, drawn before timing starts."""
    r = rng(seed)
    return [r.random() for _ in range(n)]


# -- temp directories and repositories -------------------------------------------------------


@contextlib.contextmanager
def temp_dir(prefix: str) -> Iterator[Path]:
    """A fresh temporary directory, removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix=f"gtbench-{prefix}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def git(cwd: Path, *args: str) -> str:
    """Run the real git executable; return stdout (raise on failure)."""
    out = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **GIT_ENV},
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {out.stderr.strip()}")
    return out.stdout


def make_git_repo(path: Path) -> Path:
    """A git repository at ``path`` with one commit (a tiny training script)."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.name", "Bench")
    git(path, "config", "user.email", "bench@gittrack.invalid")
    (path / "train.py").write_text("print('training')\n")
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "initial")
    return path


@contextlib.contextmanager
def chdir(path: Path) -> Iterator[None]:
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def dir_size(path: Path, on_disk: bool = False) -> int:
    """Bytes of all files under ``path``; ``on_disk``: the blocks they and the directories
    take, as ``du`` counts them (a 41-byte loose ref takes a 4 KiB block)."""
    total = 0
    for root, dirs, files in os.walk(path):
        for f in files + (dirs if on_disk else []):
            with contextlib.suppress(OSError):
                st = os.lstat(os.path.join(root, f))
                total += st.st_blocks * 512 if on_disk else st.st_size
    return total


# -- timing ------------------------------------------------------------------------------------


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """(seconds, result) of ``fn()``."""
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def cpu_seconds(children_only: bool = False) -> float:
    """CPU seconds (user + system) of this process and its waited-for children, or of the
    children only: load inflates them far less than wall time."""
    import resource

    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = kids.ru_utime + kids.ru_stime
    if not children_only:
        me = resource.getrusage(resource.RUSAGE_SELF)
        total += me.ru_utime + me.ru_stime
    return total


def median_wall_cpu(fn: Callable[[], object], reps: int) -> tuple[float, float]:
    """Median wall seconds and median CPU seconds (:func:`cpu_seconds`) of ``reps`` calls."""
    walls, cpus = [], []
    for _ in range(reps):
        c0, t0 = cpu_seconds(), time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(cpu_seconds() - c0)
    return statistics.median(walls), statistics.median(cpus)


def timer_overhead_ns(n: int = 100_000) -> float:
    """Median cost of one ``perf_counter_ns()`` pair, to read per-call figures against."""
    pc = time.perf_counter_ns
    samples = []
    for _ in range(n):
        t0 = pc()
        samples.append(pc() - t0)
    return statistics.median(samples)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ratio(a: float, b: float) -> str:
    """``a/b`` as text (``-`` when either is missing or zero)."""
    if not a or not b or a != a or b != b:
        return "-"
    r = a / b
    return f"{r:.3g}x" if r >= 0.01 else f"{r:.2e}x"


def speedup(gittrack: float, other: float) -> str:
    """How many times faster gittrack is than ``other`` (other/gittrack)."""
    return ratio(other, gittrack)


def fmt(v: Any, digits: int = 4) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if v != v:
            return "-"
        if v == 0:
            return "0"
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        return f"{v:.{digits}g}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Print (and return) a GitHub-markdown table."""
    cells = [[fmt(c) for c in row] for row in rows]
    widths = [
        max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)
    ]
    lines = [f"\n{title}\n"] if title else []
    lines.append("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |")
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in cells:
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |")
    text = "\n".join(lines)
    print(text, flush=True)
    return text


def machine() -> str:
    """One line naming the machine: cores, Python, load."""
    try:
        load = "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:
        load = "load unknown"
    return (
        f"{os.cpu_count()} cores, Python {platform.python_version()} "
        f"({platform.system()} {platform.machine()}), {load}"
    )


def note(msg: str) -> None:
    print(msg, file=sys.stdout, flush=True)


def rebuild_index(repo: Any, n: int) -> None:
    """Delete ``repo``'s query index (with its WAL files) and build it again from the run
    refs (W2's cold build); it must add ``n`` runs."""
    from gittrack.layout import index_path
    from gittrack.query.index import Index

    for suffix in ("", "-wal", "-shm"):
        Path(f"{index_path(repo.state_dir)}{suffix}").unlink(missing_ok=True)
    ix = Index(repo)
    counts = ix.refresh()
    assert counts["added"] == n, counts
    ix.close()


def fetch_all_command(url: str) -> list[str]:
    """``git fetch`` of every gittrack ref and ``main`` from ``url`` (into a new clone)."""
    return [
        "git",
        "fetch",
        "-q",
        "--update-head-ok",
        url,
        "refs/gittrack/*:refs/gittrack/*",
        "main:main",
    ]
