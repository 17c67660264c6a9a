"""A reader of the run index while another process builds it: `gittrack search` waits for the
build (saying so on stderr) and then answers from every run; opening the index returns as
soon as the other process has created it, not when its build ends."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import gittrack
from gittrack.core.repo import Repo
from gittrack.query.index import Index

# another process "building the index": it holds the index lock (as a refresh does) until
# told to release it; `replace SRC DST` puts a ready index file in place meanwhile (as
# creating the index does: the file appears whole, by rename)
HOLDER = textwrap.dedent(
    """
    import fcntl, os, sys
    fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    print("held", flush=True)
    for line in sys.stdin:
        words = line.split()
        if words[0] == "replace":
            os.replace(words[1], words[2])
            print("replaced", flush=True)
        else:
            break
    """
)


def _log(name: str) -> str:
    with gittrack.start_run(run_name=name) as run:
        gittrack.log_metric("acc", 0.5)
    return run.info.run_id


def _holder(repo: Path) -> subprocess.Popen[str]:
    lock = repo / ".git" / "gittrack" / "index.sqlite.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lock)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def _lines(stream) -> queue.Queue[str]:
    """The lines of ``stream``, read by a thread as they come."""
    got: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in stream:
            got.put(line)

    threading.Thread(target=read, daemon=True).start()
    return got


def _wait_for(lines: queue.Queue[str], text: str) -> str:
    while True:
        line = lines.get(timeout=60)  # raises queue.Empty: the text never came
        if text in line:
            return line


def test_cli_search_waits_for_another_process_building_the_index_and_says_so(repo):
    ids = [_log(f"r{i}") for i in range(3)]
    assert len(gittrack.search_runs()) == 3  # indexed
    ids.append(_log("late"))  # not indexed yet
    holder = _holder(repo)
    try:
        search = subprocess.Popen(
            [sys.executable, "-m", "gittrack", "search", "--format", "json"],
            cwd=repo,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        notice = _wait_for(_lines(search.stderr), "another process is indexing the runs")
        assert "3 of 4 indexed" in notice and "waiting for it" in notice, notice
        assert search.poll() is None  # it waits: no answer from an index half built
    finally:
        holder.communicate("release\n", timeout=60)
    out, _ = search.communicate(timeout=120)
    assert search.returncode == 0
    assert sorted(ids) == sorted(r["run_id"] for r in json.loads(out))


def test_opening_the_index_returns_once_another_process_created_it(repo, tmp_path):
    ids = [_log(f"r{i}") for i in range(2)]
    ready = tmp_path / "ready.sqlite"
    with Index(Repo(), ready) as ix:  # what the other process's build creates
        ix.refresh()
    state = repo / ".git" / "gittrack"
    (state / "index.sqlite").unlink(missing_ok=True)
    holder = _holder(repo)
    try:
        reader = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from gittrack.core.repo import Repo\n"
                "from gittrack.query.index import Index\n"
                "ix = Index(Repo('.'))\n"
                "print(*sorted(r for (r,) in ix.execute('SELECT run_id FROM runs')), flush=True)",
            ],
            cwd=repo,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        _wait_for(_lines(reader.stderr), "another process is creating the run index")
        assert holder.stdin is not None and holder.stdout is not None
        holder.stdin.write(f"replace {ready} {state / 'index.sqlite'}\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "replaced"
        assert reader.stdout is not None
        opened = reader.stdout.readline().split()  # while the other process still holds it
        assert opened == sorted(ids)
        assert holder.poll() is None
    finally:
        holder.communicate("release\n", timeout=60)
    assert reader.wait(timeout=60) == 0
