"""Search while one run trains: ``search_runs`` right after a live run's checkpoint, on a
repository of ``--runs`` finished runs (``scale.py``'s data), with the column cache patched
in place (after) and built whole (before: ``columns.PATCH_ROWS = PATCH_SHARE = 0``), the
two alternated; beside the warm search with nothing changed.

    python benchmarks/live_search.py --runs 10000 --data /tmp/gittrack-bench-scale [--reps 3]
    python benchmarks/live_search.py --quick          # 300 runs, 1 repetition (smoke)

The built repository is not changed: the live run is made in a copy that shares its objects
(``objects/info/alternates``) and copies its refs (into ``packed-refs``) and query index. Each search after a
checkpoint refreshes the index first (listing the run refs, indexing the one run that moved;
the same in both modes), timed apart, then takes the DataFrame (the columns patched or built,
then the frame). A fresh process's search after a checkpoint made elsewhere (reading the
cache file, then patching or building) is timed too.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import _common as c  # noqa: E402
import scale  # noqa: E402

from gittrack.query import columns  # noqa: E402

# (columns.PATCH_ROWS, columns.PATCH_SHARE) of each mode: 0, 0 builds the columns whole
MODES = {"before": (0, 0.0), "after": (columns.PATCH_ROWS, columns.PATCH_SHARE)}


def shared_copy(path: Path, dest: Path) -> Path:
    """A repository holding ``path``'s refs (packed: one file, not 100,000) and query index,
    its objects borrowed (``objects/info/alternates``), not copied."""
    scale.run(["git", "init", "-q", "-b", "main", str(dest)], dest.parent)
    git = path / ".git"
    (dest / ".git" / "objects" / "info" / "alternates").write_text(f"{git / 'objects'}\n")
    refs = scale.run(["git", "for-each-ref", "--format=%(objectname) %(refname)"], path)
    header = "# pack-refs with: peeled fully-peeled sorted \n"  # no annotated tags to peel
    (dest / ".git" / "packed-refs").write_text(header + refs)
    index = git / "gittrack" / "index.sqlite"
    if index.exists():
        (dest / ".git" / "gittrack").mkdir(parents=True, exist_ok=True)
        shutil.copy2(index, dest / ".git" / "gittrack" / "index.sqlite")
    return dest


def set_mode(mode: str) -> None:
    columns.PATCH_ROWS, columns.PATCH_SHARE = MODES[mode]


def refresh() -> None:
    """Bring the index up to date, as a search does first."""
    from gittrack.core.repo import Repo
    from gittrack.query.search import refreshed_index

    with refreshed_index(Repo()):
        pass


def measure(copy: Path, n: int, reps: int) -> list[list[object]]:
    import gittrack
    from gittrack.api.client import Client
    from gittrack.query import frames

    os.chdir(copy)
    df = gittrack.search_runs()
    assert len(df) == n, len(df)
    plain = c.median_wall_cpu(gittrack.search_runs, reps)
    client = Client()
    run_id = client.create_run("0", run_name="live").info.run_id
    step = 0

    def checkpoint() -> None:
        nonlocal step
        step += 1
        client.log_metric(run_id, "m0", step / 1000, step=step)
        client.flush(run_id)

    checkpoint()
    gittrack.search_runs()
    spent = [0.0, 0.0]  # wall and CPU inside columns.columns (the cache patched or built)

    def timed_columns(index: object) -> columns.Columns:
        c0, t0 = c.cpu_seconds(), time.perf_counter()
        try:
            return columns.columns(index)  # type: ignore[arg-type]
        finally:
            spent[0] += time.perf_counter() - t0
            spent[1] += c.cpu_seconds() - c0

    frames.columns = timed_columns
    got: dict[str, dict[str, list[float]]] = {m: {} for m in MODES}
    for _ in range(reps):
        for mode in MODES:  # alternated: the same load for both
            set_mode(mode)
            checkpoint()
            spent[:] = [0.0, 0.0]
            c0, t0 = c.cpu_seconds(), time.perf_counter()
            gittrack.search_runs()
            for part, value in (("search", time.perf_counter() - t0),
                                ("search cpu", c.cpu_seconds() - c0),
                                ("columns", spent[0]), ("columns cpu", spent[1])):  # fmt: skip
                got[mode].setdefault(part, []).append(value)
    frames.columns = columns.columns
    set_mode("after")
    fresh = fresh_process(copy, checkpoint, reps)
    med = statistics.median

    def cell(g: dict[str, list[float]], part: str) -> str:
        return f"{med(g[part]):.3f} s ({med(g[part + ' cpu']):.3f} CPU)"

    def ratio(part: str) -> str:
        b, a = (got[m] for m in MODES)
        return (f"{med(b[part]) / med(a[part]):.1f}x wall, "
                f"{med(b[part + ' cpu']) / med(a[part + ' cpu']):.1f}x CPU")  # fmt: skip

    rows: list[list[object]] = [
        [f"warm `search_runs`, nothing changed ({n:,} runs)",
         f"{plain[0]:.3f} s ({plain[1]:.3f} CPU)", "-", "-"],
        ["`search_runs` right after a checkpoint (refresh: ref listing + 1 run; columns; frame)",
         cell(got["before"], "search"), cell(got["after"], "search"), ratio("search")],
        ["... of which the column cache (built whole / patched)",
         cell(got["before"], "columns"), cell(got["after"], "columns"), ratio("columns")],
    ]  # fmt: skip
    fb, fa = (fresh[m] for m in MODES)
    rows.append([
        "fresh process after a checkpoint made elsewhere: `search_runs` (cache file read)",
        f"{fb[0]:.3f} s ({fb[1]:.3f} CPU)", f"{fa[0]:.3f} s ({fa[1]:.3f} CPU)",
        f"{fb[0] / fa[0]:.1f}x wall, {fb[1] / fa[1]:.1f}x CPU",
    ])  # fmt: skip
    client.set_terminated(run_id)
    return rows


def fresh_process(
    copy: Path, checkpoint: Callable[[], None], reps: int
) -> dict[str, tuple[float, float]]:
    """Per mode, median wall and CPU of ``search_runs`` in a new process (imports and the
    index refresh excluded), after a checkpoint of this process's live run."""
    got: dict[str, list[tuple[float, float]]] = {m: [] for m in MODES}
    for _ in range(reps):
        for mode in MODES:
            checkpoint()
            code = (
                f"import sys, time, json; sys.path.insert(0, {str(HERE)!r})\n"
                "import gittrack, pandas, numpy, live_search as ls, _common as c\n"
                f"ls.set_mode({mode!r}); ls.refresh()\n"
                "c0, t0 = c.cpu_seconds(), time.perf_counter()\n"
                "gittrack.search_runs()\n"
                "print(json.dumps([time.perf_counter() - t0, c.cpu_seconds() - c0]))\n"
            )
            out = scale.run([sys.executable, "-c", code], copy).strip().splitlines()[-1]
            wall, cpu = json.loads(out)
            got[mode].append((wall, cpu))
    med = statistics.median
    return {m: (med(w for w, _ in v), med(u for _, u in v)) for m, v in got.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--procs", type=int, default=2, help="logging processes while building")
    ap.add_argument(
        "--data", type=Path, default=Path("/tmp/gittrack-bench-scale"),
        help="scale.py's data folder (built there once if missing, with --build pack)",
    )  # fmt: skip
    ap.add_argument("--quick", action="store_true", help="300 runs, 1 repetition")
    args = ap.parse_args()
    if args.quick:
        args.runs, args.reps = 300, 1
        args.data = Path(tempfile.gettempdir()) / "gtbench-live-data"
    print(c.machine(), flush=True)
    path, _info = scale.build(args.data, args.runs, args.procs)
    work = Path(tempfile.mkdtemp(prefix="gtbench-live-"))
    try:
        rows = measure(shared_copy(path, work / "copy"), args.runs, args.reps)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if args.quick:
            shutil.rmtree(args.data, ignore_errors=True)
    c.print_table(
        f"Search while one run trains: {args.runs:,} finished runs + 1 live run, medians of "
        f"{args.reps} (wall, CPU of the process)",
        ["what", "before: columns built whole", "after: columns patched", "before / after"],
        rows,
    )
    print(c.machine(), flush=True)


if __name__ == "__main__":
    main()
