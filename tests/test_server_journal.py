"""The server's write-ahead journal: acknowledged before committed, never lost.

``gittrack server`` acknowledges a logging request once it is in the run's journal
(fsynced) and commits on an interval; a SIGKILL after the acknowledgement must lose
nothing (the journal is replayed at the next start), and a replay must not apply an
entry a commit already holds.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

from gittrack.api.client import Client
from gittrack.core import journal
from gittrack.core.repo import Repo
from gittrack.layout import journal_dir
from gittrack.server.backend import Backend, encode_batch
from tests.server_helpers import ServerProcess, bare_repo, http, log_batches_until_sigkill

API = "/api/2.0/mlflow"


def _steps(client: Client, run_id: str, key: str) -> list[int]:
    return [m.step for m in client.get_metric_history(run_id, key)]


def test_sigkill_under_load_loses_no_acknowledged_point(tmp_path):
    repo = bare_repo(tmp_path)
    # no checkpoint on an interval: what was acknowledged is in the journal only
    subprocess.run(
        ["git", f"--git-dir={repo}", "config", "gittrack.checkpoint-seconds", "3600"], check=True
    )
    server = ServerProcess(repo)
    _, body = http("POST", f"{server.url}{API}/runs/create", {"experiment_id": "0"})
    run_id = body["run"]["info"]["run_id"]
    want, want_params = log_batches_until_sigkill(
        server, run_id, clients=4, keys=10, params_every=5
    )
    assert len(want) > 20 and want_params  # the load was real

    # the crash left acknowledged points in the journal alone: the ref lacks them
    state = Repo(str(repo)).state_dir
    assert list(journal_dir(state).iterdir())
    committed = set(_steps(Client(str(repo)), run_id, "k0"))
    assert not want <= committed

    with ServerProcess(repo) as again:
        for key in ("k0", "k9"):
            _, body = http(
                "GET", f"{again.url}{API}/metrics/get-history?run_id={run_id}&metric_key={key}"
            )
            steps = [m["step"] for m in body["metrics"]]
            assert want <= set(steps), f"{len(want - set(steps))} acknowledged points of {key} lost"
            assert len(steps) == len(set(steps)), "a journaled point was applied twice"
        _, body = http("GET", f"{again.url}{API}/runs/get?run_id={run_id}")
        have_params = {p["key"] for p in body["run"]["data"]["params"]}
        assert want_params <= have_params
        _, found = http(
            "POST",
            f"{again.url}{API}/runs/search",
            {"experiment_ids": ["0"], "filter": f"params.`{min(want_params)}` != ''"},
        )
        assert [r["info"]["run_id"] for r in found["runs"]] == [run_id]
        # the replay was committed: Python reads every point from the repository itself
        steps = _steps(Client(str(repo)), run_id, "k9")
        assert want <= set(steps) and len(steps) == len(set(steps))
        # the run is still writable after the crash
        status, _ = http(
            "POST",
            f"{again.url}{API}/runs/log-metric",
            {"run_id": run_id, "key": "after", "value": 1.0, "timestamp": 1},
        )
        assert status == 200
    assert not list(journal_dir(state).iterdir())  # replayed, committed, removed


def test_replay_skips_what_a_commit_holds(tmp_path):
    """A crash after a checkpoint but before its journal segment was removed: the
    replay applies only the entries after the commit's mark, and applies them once."""
    repo = bare_repo(tmp_path)
    backend = Backend(str(repo), journal=True)
    run_id = backend.submit(lambda c: c.create_run("0", snapshot=False).info.run_id).result()

    def log(step: int) -> None:
        asyncio.run(backend.log(run_id, ([("m", float(step), 1, step)], [], [])))

    def checkpoint() -> None:
        """What the writer's checkpoint thread does every interval (not a read, which
        would commit and retire the journal through the backend)."""
        backend._executor.submit(lambda: backend.client.writer(run_id).checkpoint()).result()

    for step in range(3):
        log(step)
    checkpoint()  # steps 0-2 committed
    for step in range(3, 5):
        log(step)  # journaled, not committed
    # an entry acknowledged after the last commit, never applied here (the crash)
    jr = backend._journals[run_id]
    seq, _ = jr.next_mark()
    jr.append(seq, encode_batch(([("m", 5.0, 1, 5)], [], [])))
    jr.sync()
    checkpoint()  # steps 3-4 committed
    # the process "dies": its lock goes, the journal stays
    backend._executor.submit(lambda: backend.client.writer(run_id).detach().release()).result()
    backend._executor.shutdown()
    backend._discarder.shutdown()
    # segments wholly committed before the last rotation are gone; entries 4 and 5 are
    # committed but their segment was not removed yet; 6 is in the journal alone
    segments = journal.segments(Repo(str(repo)).state_dir)[run_id]
    assert [e.seq for e in journal.read_entries(segments)] == [4, 5, 6]

    again = Backend(str(repo), journal=True)
    steps = again.submit(lambda c: _steps(c, run_id, "m")).result()
    again.close()
    assert steps == [0, 1, 2, 3, 4, 5]


def test_a_torn_entry_ends_the_journal(tmp_path):
    state = tmp_path / "state"
    jr = journal.RunJournal(state, "a" * 32)
    for seq in (1, 2):
        jr.append(seq, b"entry %d" % seq)
    jr.sync()
    path: Path = jr._path  # type: ignore[assignment]
    with open(path, "ab") as f:  # the crash cut the third write short
        f.write(b"\x40\x00\x00\x00\x01\x02")
    entries = list(journal.read_entries(journal.segments(state)["a" * 32]))
    assert [(e.seq, e.payload) for e in entries] == [(1, b"entry 1"), (2, b"entry 2")]
    # a flipped byte inside an entry is not taken for data either
    data = bytearray(path.read_bytes())
    data[20] ^= 0xFF
    path.write_bytes(bytes(data))
    assert [e.seq for e in journal.read_entries([path])] == []
    assert journal.parse_mark("running: x (1)\n\nGittrack-Journal: ab12:7\n") == ("ab12", 7)


def test_committed_seq_reads_the_journals_own_generation(tmp_path):
    """Marks of another server process (a later generation) do not hide how far this
    journal's generation is committed."""
    import pygit2

    git = pygit2.init_repository(str(tmp_path / "r.git"), bare=True)
    sig = pygit2.Signature("t", "t@example.com")
    tree = git.TreeBuilder().write()
    tip = None
    for message in ("a: 1\n\nGittrack-Journal: aa:3\n", "b\n\nGittrack-Journal: bb:9\n", "c\n"):
        tip = git.create_commit(None, sig, sig, message, tree, [tip] if tip else [])
    assert journal.committed_seq(git, str(tip), "aa") == 3
    assert journal.committed_seq(git, str(tip), "bb") == 9
    assert journal.committed_seq(git, str(tip), "cc") == 0
    assert journal.committed_seq(git, None, "aa") == 0
