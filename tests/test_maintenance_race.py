"""Loggers beside git's own maintenance: `git repack -d` (and its prune-packed) never
costs a logger an object.

`git repack -d` ends with `git prune-packed`, which removes every empty fan-out folder
(`objects/ab/`). A loose-object write creates its folder, then a temporary file in
it: if the folder vanishes in between, libgit2 fails with ENOENT. The writer's own
background consolidation runs exactly this beside other processes' loggers. Here
real loggers (the fluent API: source snapshots of changed files, inline artifacts,
new experiments) run while the test repacks and prunes in a tight loop; every run
must come out whole.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tests.conftest import git

FILES = 40  # changed files per run: each is a new blob in the run's source snapshot
RUNS = 8

LOGGER = textwrap.dedent(
    """
    import json, os, sys
    import gittrack

    tag = sys.argv[1]
    data = os.path.join("data", tag)
    os.makedirs(data, exist_ok=True)
    out = []
    for i in range(int(sys.argv[2])):
        for j in range(int(sys.argv[3])):
            # written aside and renamed in: the other logger's snapshot never reads a
            # half-written file (libgit2 reports a file that shrank while read as OSError)
            tmp = os.path.join(".git", f"tmp-{tag}")
            with open(tmp, "wb") as fh:
                fh.write(os.urandom(24).hex().encode())
            os.replace(tmp, os.path.join(data, f"f{j}.txt"))
        gittrack.set_experiment(f"exp-{tag}-{i}")
        with gittrack.start_run() as run:
            gittrack.log_param("i", i)
            gittrack.log_metric("loss", 1.0 / (i + 1), step=i)
            gittrack.log_text(f"note {tag} {i}\\n", "notes/note.txt")
        out.append(run.info.run_id)
    print(json.dumps(out))
    """
)


def _maintain(repo: Path) -> int:
    """One round of what consolidation does: a geometric repack, then prune-packed
    (again and again: each pass removes every empty object folder)."""
    git(repo, "repack", "-d", "-q", "--geometric=2", check=False)
    for _ in range(5):
        git(repo, "prune-packed", check=False)
    return 1


def test_loggers_lose_nothing_beside_repack_and_prune_packed(repo):
    from gittrack.api.client import Client
    from gittrack.core.reader import Store
    from gittrack.core.repo import Repo

    procs = [
        subprocess.Popen(
            [sys.executable, "-c", LOGGER, tag, str(RUNS), str(FILES)],
            cwd=repo,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tag in ("a", "b")
    ]
    rounds = 0
    deadline = time.monotonic() + 600
    while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
        rounds += _maintain(repo)
    results = [p.communicate(timeout=60) for p in procs]
    assert rounds > 0
    for p, (_out, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err[-3000:]
        assert "gittrack:" not in err, err[-3000:]  # no checkpoint or exit-flush failure
    by_tag = {
        tag: json.loads(out.strip().splitlines()[-1])
        for tag, (out, _) in zip("ab", results, strict=True)
    }
    assert [len(ids) for ids in by_tag.values()] == [RUNS, RUNS]

    client = Client(repo)
    store = Store(Repo(str(repo)))
    for tag, rid in ((t, r) for t, ids in by_tag.items() for r in ids):
        run = client.get_run(rid)
        assert run.info.status == "FINISHED", rid
        assert run.data.params == {"i": run.data.params["i"]}
        record = store.read_record(store.run_commit(rid), rid)["run"]
        # every changed file is in the run's snapshot: none "skipped (unreadable)"
        assert record["source"]["skipped_files"] == [], record["source"]
        ref = f"refs/gittrack/runs/{rid}"
        tree = git(repo, "ls-tree", "-r", "--name-only", ref, f"data/{tag}/")
        assert len(tree.split()) == FILES, tree
        folder = client.download_artifacts(rid, "notes", repo.parent / "dl" / rid)
        assert (Path(folder) / "note.txt").read_text().startswith("note ")
    names = {e.name for e in client.search_experiments()}
    assert {f"exp-{t}-{i}" for t in "ab" for i in range(RUNS)} <= names
    fsck = subprocess.run(
        ["git", "fsck", "--no-dangling"], cwd=repo, capture_output=True, text=True, check=False
    )
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
