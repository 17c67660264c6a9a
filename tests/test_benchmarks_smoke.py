"""Smoke runs of the benchmark scripts (``--quick``: tiny sizes, no timing asserted).

They check that each script runs both systems end to end and prints its table;
the figures themselves are recorded in docs/benchmarks.md, not asserted here.
"""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT

BENCH = ROOT / "benchmarks"


def run_script(name: str, *args: str, tmp_path) -> str:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, str(BENCH / name), "--quick", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    # the temporary directories of every repetition are removed afterwards
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("gtbench-")]
    return out.stdout


def table_rows(text: str) -> dict[str, list[str]]:
    """First cell -> cells, of every markdown table row printed."""
    rows = {}
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("|--"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[cells[0]] = cells
    return rows


def test_w1_logs_the_same_runs_in_gittrack_and_both_mlflow_stores(tmp_path):
    text = run_script("w1_logging.py", tmp_path=tmp_path)
    assert "W1 logging: 2 runs x (10 params, 2 metrics x 5 steps, 3 tags" in text
    rows = table_rows(text)
    assert rows["system"][:4] == ["system", "total s", "CPU s", "log_metric median us"]
    for system in ("gittrack", "mlflow-sqlite", "mlflow-file"):
        assert system in rows, text
        assert float(rows[system][1].replace(",", "")) > 0
    assert rows["gittrack"][5] == "1x"
    assert rows["mlflow-sqlite"][5].endswith("x")
    import gittrack

    if hasattr(gittrack, "log_artifact"):
        assert "one 1 KiB artifact" in text
    else:
        assert "the 1 KiB artifact step is left out for every system" in text


def test_w1_rejects_an_unknown_system(tmp_path):
    out = subprocess.run(
        [sys.executable, str(BENCH / "w1_logging.py"), "--quick", "--systems", "mlflow-rest"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2
    assert "unknown system 'mlflow-rest'" in out.stderr


def test_w3_reads_back_every_point_and_reports_growth(tmp_path):
    text = run_script("w3_long_run.py", tmp_path=tmp_path)
    assert "1 run, 1 metric, 12,000 points" in text
    rows = table_rows(text)
    gt = rows["gittrack (log_metric x N)"]
    header = rows["system"]
    assert int(gt[header.index("checkpoints")]) >= 1  # end_run commits at least once
    assert gt[header.index("raw TSV")].endswith(" MB")
    assert gt[header.index("growth / raw")].endswith("x")
    assert "mlflow-sqlite (log_batch x 1000)" in rows
    assert "gittrack speed-up over mlflow-sqlite" in text


def test_w6_times_import_and_log_and_profiles_log(tmp_path):
    text = run_script("w6_startup.py", "--profile", tmp_path=tmp_path)
    rows = table_rows(text)
    assert "gittrack log (50 runs)" in rows
    note = rows["what"].index("note")
    assert rows["gittrack log (50 runs)"][note] == "51 lines of output"  # header + 50 runs
    assert 'python -c "import gittrack"' in rows
    assert "profile of an in-process `gittrack log`" in text
    assert "log_cmd" in text  # the profile names where gittrack log spends its time


def test_registry_bench_runs_both_registries(tmp_path):
    out = run_script("registry_bench.py", tmp_path=tmp_path)
    rows = table_rows(out)
    assert rows["gittrack"][1] == "16" and rows["mlflow sqlite"][1] == "16"


def test_hooks_bench_quick(tmp_path):
    text = run_script("hooks_bench.py", tmp_path=tmp_path)
    rows = table_rows(text)
    assert {"plain git (no hooks)", "hooks, no live run", "hooks, live run"} <= set(rows)
    assert "commits noted in the live run: [3] (expected 3 each)" in text


def test_scale_quick(tmp_path):
    cache = tmp_path / "cache"
    text = run_script(
        "scale.py", "--only", "search,log", "--no-mlflow", "--cache", str(cache), tmp_path=tmp_path
    )
    rows = table_rows(text)
    assert any(k.startswith("build: 300 runs") for k in rows), rows
    assert "W2 cold index build" in rows
    assert "W6 `gittrack log -n 50`" in rows


def test_scale_quick_remote_rows(tmp_path):
    """The 100,000-run benchmark's remote rows at 300 runs built through the pack writer:
    push into a fresh bare remote, pull into a fresh clone, one new run, nothing new."""
    cache = tmp_path / "cache"
    text = run_script(
        "scale.py", "--only", "size,push", "--no-mlflow", "--data", str(cache), tmp_path=tmp_path
    )
    rows = table_rows(text)
    assert any(k.startswith("build: 300 runs through the pack writer") for k in rows), rows
    assert rows["loose objects / packs"][1] == "0 / 1"
    for row in (
        "W4 `gittrack push` of every run into a fresh bare remote",
        "W4 `gittrack pull` of every run into a fresh clone",
        "W4 `gittrack push` of 1 new run onto the full remote",
        "W4 `gittrack push`, nothing new",
    ):
        assert rows[row][1].endswith(" CPU)"), rows[row]


def test_client_disk_leaves_no_loose_objects_through_any_api(tmp_path):
    text = run_script("client_disk.py", "--work", str(tmp_path / "disk"), tmp_path=tmp_path)
    rows = table_rows(text)
    assert rows["API"][:3] == ["API", "write wall / CPU s", "loose objects added (of all)"]
    for api in ("client", "rest", "plugin", "fluent"):
        assert rows[api][2].startswith("0 (of "), text  # every run's objects are in packs
    assert not (tmp_path / "disk" / "client").exists()  # repositories removed afterwards


def test_live_search_quick_compares_patched_and_whole_columns(tmp_path):
    text = run_script("live_search.py", tmp_path=tmp_path)
    rows = table_rows(text)
    assert rows["what"][1:] == [
        "before: columns built whole",
        "after: columns patched",
        "before / after",
    ]
    cache = rows["... of which the column cache (built whole / patched)"]
    assert cache[1].endswith(" CPU)") and cache[2].endswith(" CPU)") and "x CPU" in cache[3]
    assert any(k.startswith("fresh process after a checkpoint") for k in rows), rows
