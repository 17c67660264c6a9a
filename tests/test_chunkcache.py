"""The decoded-chunk cache: full metric chunks read back from .git/gittrack/cache
give exactly the points in git's TSV; a damaged or missing cache never changes
what a reader sees."""

from __future__ import annotations

import math

import gittrack
from gittrack.api.client import Client
from gittrack.core.records import chunkcache
from gittrack.core.records import formats as records
from gittrack.core.repo import Repo
from tests.conftest import git

N = records.CHUNK_POINTS


def chunk_ids(repo_path, run_id: str, key: str = "loss") -> list[str]:
    """Blob ids of the run's chunks of ``key``, in order, as plain git lists them."""
    out = git(repo_path, "ls-tree", f"refs/gittrack/runs/{run_id}", f".gittrack/metrics/{key}/")
    return [line.split()[2] for line in out.splitlines()]


def tsv_points(repo_path, oid: str) -> tuple[list[int], list[float], list[int]]:
    return records.decode_points(git(repo_path, "cat-file", "blob", oid).encode())


def value(i: int) -> float:
    if i % 1000 == 7:
        return math.nan
    if i % 1000 == 8:
        return -math.inf
    return i / 7


def same(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and all(x == y or (x != x and y != y) for x, y in zip(a, b))


def test_writer_caches_full_chunks_with_the_points_in_git(repo):
    with gittrack.start_run() as run:
        for i in range(2 * N + 500):
            gittrack.log_metric("loss", value(i), step=i, timestamp=1_700_000_000_000 + i)
    run_id = run.info.run_id
    ids = chunk_ids(repo, run_id)
    assert len(ids) == 3
    r = Repo(repo)
    for oid in ids[:2]:  # the two full chunks are cached, the partial last one is not
        cached = chunkcache.load(r, oid)
        assert cached is not None
        steps, values, stamps = tsv_points(repo, oid)
        assert cached[0] == steps and cached[2] == stamps and same(cached[1], values)
    assert chunkcache.load(r, ids[2]) is None
    hist = Client(repo).get_metric_history(run_id, "loss")
    assert [m.step for m in hist] == list(range(2 * N + 500))
    assert same([m.value for m in hist], [value(i) for i in range(2 * N + 500)])
    assert hist[-1].timestamp == 1_700_000_000_000 + 2 * N + 499


def test_readers_use_the_cache_and_survive_damage_or_loss(repo):
    with gittrack.start_run() as run:
        for i in range(N):
            gittrack.log_metric("loss", float(i), step=i, timestamp=5)
    run_id = run.info.run_id
    (oid,) = chunk_ids(repo, run_id)
    r = Repo(repo)
    client = Client(repo)
    path = chunkcache.chunk_path(r, oid)

    # a valid cache entry is what readers use (proof that the fast path is taken)
    chunkcache.store(r, oid, list(range(N)), [-1.0] * N, [5] * N)
    assert {m.value for m in client.get_metric_history(run_id, "loss")} == {-1.0}

    # a damaged entry is ignored (git's TSV wins) and rewritten from the TSV
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    hist = client.get_metric_history(run_id, "loss")
    assert [m.value for m in hist] == [float(i) for i in range(N)]
    assert chunkcache.load(r, oid)[1] == [float(i) for i in range(N)]

    # truncated, or gone: same history
    path.write_bytes(path.read_bytes()[:100])
    assert [m.step for m in client.get_metric_history(run_id, "loss")] == list(range(N))
    path.unlink()
    assert [m.value for m in client.get_metric_history(run_id, "loss")][-1] == float(N - 1)
    assert path.exists()  # the reader filled the cache again


def test_a_resumed_run_caches_only_chunks_whose_points_it_logged_correctly(repo):
    with gittrack.start_run() as run:
        for i in range(6000):
            gittrack.log_metric("loss", float(i), step=i)
    run_id = run.info.run_id
    with gittrack.start_run(run_id=run_id):  # reopened: a 6,000-line tail from git
        for i in range(6000, 2 * N + 1):
            gittrack.log_metric("loss", float(i), step=i)
    ids = chunk_ids(repo, run_id)
    assert len(ids) == 3
    r = Repo(repo)
    for oid in ids[:2]:
        cached = chunkcache.load(r, oid)
        steps, values, _ = tsv_points(repo, oid)
        if cached is not None:  # whatever the writer cached must be exactly the chunk
            assert cached[0] == steps and cached[1] == values
    assert chunkcache.load(r, ids[1]) is not None  # chunk 1 was logged wholly by the writer
    hist = Client(repo).get_metric_history(run_id, "loss")
    assert [m.value for m in hist] == [float(i) for i in range(2 * N + 1)]


def test_small_and_unrepresentable_chunks_are_not_cached(repo):
    r = Repo(repo)
    assert chunkcache.store(r, "ab" * 20, [1, 2], [0.5, 0.5], [3, 3]) is False
    big = 2**63
    assert chunkcache.store(r, "cd" * 20, [big] * 1000, [0.0] * 1000, [1] * 1000) is False
    assert chunkcache.load(r, "cd" * 20) is None


def test_an_unwritable_cache_never_stops_logging_or_reading(repo):
    r = Repo(repo)
    (r.state_dir / "cache").write_text("not a directory\n")  # every cache write now fails
    with gittrack.start_run() as run:
        for i in range(N + 10):
            gittrack.log_metric("loss", float(i), step=i)
    hist = Client(repo).get_metric_history(run.info.run_id, "loss")
    assert [m.value for m in hist] == [float(i) for i in range(N + 10)]
    assert (r.state_dir / "cache").read_text() == "not a directory\n"
