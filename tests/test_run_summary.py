"""A finished run's ``.gittrack/summary.json``: the four records parsed, read instead of the
YAML files only where the blob ids it names are those in the tree; stale, missing or broken
summaries read the files (runs of old repositories, crafted commits); the guard refuses a
summary that names the right blobs but holds other documents."""

from __future__ import annotations

import json

import pytest

import gittrack
from gittrack.core.reader import Store
from gittrack.core.records.summary import mismatch
from gittrack.core.repo import Repo
from tests.conftest import forge_commit, git
from tests.search_data import make_repo


def _finished(acc: float = 0.5, **tags: str) -> str:
    with gittrack.start_run(run_name="s") as run:
        gittrack.log_params({"lr": 0.01, "opt": "adam", "n": 3, "flag": True, "x.y": "1e-3"})
        gittrack.log_metric("acc", acc)
        gittrack.log_metric("nan", float("nan"))
        gittrack.log_metric("neg", -0.0)
        gittrack.set_tags(tags or {"team": "ml"})
    return run.info.run_id


def _files(repo, sha: str) -> list[str]:
    return git(repo, "ls-tree", "--name-only", f"{sha}:.gittrack").split()


def _summary(repo, sha: str) -> dict:
    return json.loads(git(repo, "show", f"{sha}:.gittrack/summary.json"))


def test_every_run_reads_the_same_through_its_summary(tmp_path, monkeypatch):
    path = make_repo(tmp_path / "project")
    monkeypatch.chdir(path)
    store = Store(Repo())
    refs = store.run_refs()
    with_summary = 0
    for run_id, sha in refs.items():
        fast, slow = store.read_record(sha, run_id), store.read_record(sha, run_id, summary=False)
        assert mismatch(fast, slow) is None, run_id
        assert json.dumps(fast, sort_keys=True, default=repr) == json.dumps(
            slow, sort_keys=True, default=repr
        )
        if "summary.json" in _files(path, sha):
            with_summary += 1
            assert slow["run"]["status"] in ("FINISHED", "FAILED", "KILLED")
    assert with_summary >= len(refs) // 2  # the finished ones


def test_the_summary_follows_changes_after_the_end(repo):
    run_id = _finished()
    store = Store(Repo())
    first = store.run_commit(run_id)
    assert _summary(repo, first)["docs"]["tags.yaml"] == {"team": "ml"}
    client = gittrack.MlflowClient()
    client.set_tag(run_id, "late", "yes")
    client.delete_run(run_id)
    gittrack.api.client.Client().flush()
    sha = store.run_commit(run_id)
    doc = _summary(repo, sha)
    assert doc["docs"]["tags.yaml"] == {"team": "ml", "late": "yes"}
    assert doc["docs"]["run.yaml"]["lifecycle"] == "deleted"
    assert doc["files"]["tags.yaml"] == git(repo, "rev-parse", f"{sha}:.gittrack/tags.yaml").strip()


@pytest.mark.parametrize(
    "change",
    ["stale-tags", "no-summary", "garbage", "other-format", "a-folder", "tags-removed"],
)
def test_a_summary_that_does_not_name_the_blobs_beside_it_is_not_used(repo, change):
    run_id = _finished()
    store = Store(Repo())
    sha = store.run_commit(run_id)
    files: dict[str, str | None] = {}
    if change == "stale-tags":  # a later commit changed tags.yaml, not the summary
        files[".gittrack/tags.yaml"] = "team: ops\n"
    elif change == "no-summary":  # a run written before summaries existed
        files[".gittrack/summary.json"] = None
    elif change == "garbage":
        files[".gittrack/summary.json"] = "{not json"
    elif change == "other-format":
        doc = _summary(repo, sha)
        doc["format"] = 99
        doc["docs"]["tags.yaml"] = {"team": "other"}
        files[".gittrack/summary.json"] = json.dumps(doc)
    elif change == "a-folder":
        files[".gittrack/summary.json"] = None
        files[".gittrack/summary.json/x"] = "{}"
    else:
        files[".gittrack/tags.yaml"] = None
    new = forge_commit(repo, files, base=sha, parents=(sha,))
    git(repo, "update-ref", f"refs/gittrack/runs/{run_id}", new)
    fast, slow = store.read_record(new, run_id), store.read_record(new, run_id, summary=False)
    assert mismatch(fast, slow) is None
    want = {"stale-tags": {"team": "ops"}, "tags-removed": {}}.get(change, {"team": "ml"})
    assert fast["tags"] == want
    df = gittrack.search_runs()
    assert df["run_id"].tolist() == [run_id]
    assert ("tags.team" in df and df["tags.team"][0]) == want.get("team", False)


def test_a_summary_naming_the_right_blobs_with_other_documents_is_refused_by_the_guard(repo):
    from gittrack.remote.guard import ZERO, Guard

    run_id = _finished(acc=0.5)
    store = Store(Repo())
    sha = store.run_commit(run_id)
    ref = f"refs/gittrack/runs/{run_id}"
    assert Guard(str(repo / ".git")).check(ZERO, sha, ref) is None  # the writer's own
    doc = _summary(repo, sha)
    doc["docs"]["metrics.yaml"]["acc"]["value"] = 0.99  # the blob ids still match
    forged = forge_commit(
        repo, {".gittrack/summary.json": json.dumps(doc)}, base=sha, parents=(sha,)
    )
    why = Guard(str(repo / ".git")).check(ZERO, forged, ref)
    assert why is not None and "summary.json does not match metrics.yaml" in why


@pytest.mark.parametrize(
    ("path", "value", "file"),
    [
        (("metrics.yaml", "acc", "value"), 1, "metrics.yaml"),  # the file's 1.0, as an int
        (("params.yaml", "n"), "3", "params.yaml"),  # the file's 3, as a string
        (("tags.yaml", "team"), True, "tags.yaml"),  # another type, same truth
    ],
)
def test_the_guard_refuses_a_summary_that_differs_from_its_file_only_in_type(
    repo, path, value, file
):
    from gittrack.remote.guard import ZERO, Guard

    run_id = _finished(acc=1.0)
    sha = Store(Repo()).run_commit(run_id)
    ref = f"refs/gittrack/runs/{run_id}"
    assert Guard(str(repo / ".git")).check(ZERO, sha, ref) is None  # NaN and -0.0 pass
    doc = _summary(repo, sha)
    where = doc["docs"]
    for key in path[:-1]:
        where = where[key]
    assert type(where[path[-1]]) is not type(value)  # only the type changes below
    where[path[-1]] = value
    forged = forge_commit(
        repo, {".gittrack/summary.json": json.dumps(doc)}, base=sha, parents=(sha,)
    )
    why = Guard(str(repo / ".git")).check(ZERO, forged, ref)
    assert why is not None and f"summary.json does not match {file}" in why
