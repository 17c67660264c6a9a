"""The pre-receive guard on registered models' refs (``refs/gittrack/registry/<key>``), behind
plain git (file://, git http-backend) and ``gittrack server``: what the Client writes —
versions, aliases, tags, tombstones — is accepted; commits crafted with git plumbing that
renumber or drop a published version, point an alias at a missing or deleted version,
rewrite history, or carry records that do not read are refused, and the remote keeps
what it had."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from gittrack.api.client import Client
from gittrack.layout import registry_key, registry_ref
from tests.conftest import git, run_cli
from tests.test_guard import commit_with as forge
from tests.test_guard import guarded, remote_ref  # noqa: F401 - the fixture

NAME = "fraud detector"
REF = registry_ref(NAME)


def record(repo: Path, sha: str, path: str) -> dict:
    return yaml.safe_load(git(repo, "show", f"{sha}:{path}"))


def dump(rec: dict) -> str:
    return yaml.safe_dump(rec, sort_keys=False, allow_unicode=True)


def push_sha(repo: Path, sha: str, ref: str = REF) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["git", "push", "origin", f"{sha}:{ref}"], cwd=repo, capture_output=True, text=True
    )


@pytest.fixture
def published(repo, guarded) -> str:  # noqa: F811 - the fixture imported above
    """A model with versions 1-3 (alias champion -> 2) pushed to the guarded remote; its tip."""
    c = Client(str(repo))
    c.create_registered_model(NAME, tags={"team": "risk"})
    for i in (1, 2, 3):
        c.create_model_version(NAME, f"s3://models/{i}", tags={"i": str(i)})
    c.set_registered_model_alias(NAME, "champion", "2")
    res = run_cli("push", cwd=repo)
    assert res.returncode == 0, res.stdout + res.stderr
    sha = git(repo, "rev-parse", REF).strip()
    assert remote_ref(guarded, REF) == sha
    return sha


def refused(res: subprocess.CompletedProcess, why: str) -> None:
    assert res.returncode != 0, res.stdout + res.stderr
    assert f"gittrack: refusing {REF}: " in res.stderr, res.stderr
    assert why in res.stderr, res.stderr


def test_what_the_client_writes_is_accepted_tombstones_included(repo, guarded, published):  # noqa: F811
    c = Client(str(repo))
    c.set_registered_model_alias(NAME, "challenger", "3")
    c.set_model_version_tag(NAME, "1", "validated", "yes")
    c.update_model_version(NAME, "1", description="first")
    c.transition_model_version_stage(NAME, "2", "Production")
    c.delete_model_version(NAME, "1")  # a tombstone: the record stays, deleted: true
    res = run_cli("push", cwd=repo)
    assert res.returncode == 0, res.stdout + res.stderr
    assert remote_ref(guarded, REF) == git(repo, "rev-parse", REF).strip()
    c.delete_registered_model(NAME)
    res = run_cli("push", cwd=repo)
    assert res.returncode == 0, res.stdout + res.stderr


def test_dropping_a_published_version_is_refused(repo, guarded, published):  # noqa: F811
    forged = forge(repo, published, {"versions/3.yaml": None})
    refused(
        push_sha(repo, forged),
        f"model {NAME!r}: version 3 is published and this update drops it",
    )
    assert remote_ref(guarded, REF) == published


def test_renumbering_a_published_version_is_refused(repo, guarded, published):  # noqa: F811
    # another clone's version put under number 3: another source at the same number
    other = record(repo, published, "versions/3.yaml")
    other.update(source="s3://models/elsewhere", creation_timestamp=other["creation_timestamp"] + 5)
    forged = forge(repo, published, {"versions/3.yaml": dump(other)})
    refused(
        push_sha(repo, forged),
        "version 3 is published and this update replaces its source, creation_timestamp "
        "(renumbered?)",
    )
    assert remote_ref(guarded, REF) == published


def test_alias_at_a_missing_or_deleted_version_is_refused(repo, guarded, published):  # noqa: F811
    model = record(repo, published, "registered_model.yaml")
    model["aliases"] = {"champion": 9}
    forged = forge(repo, published, {"registered_model.yaml": dump(model)})
    refused(
        push_sha(repo, forged),
        f"alias 'champion' of model {NAME!r} points at version 9, which does not exist",
    )
    v2 = record(repo, published, "versions/2.yaml")
    v2["deleted"] = True
    forged = forge(repo, published, {"versions/2.yaml": dump(v2)})
    refused(push_sha(repo, forged), "points at version 2, which is deleted")
    assert remote_ref(guarded, REF) == published


def test_a_deleted_version_cannot_come_back(repo, guarded, published):  # noqa: F811
    Client(str(repo)).delete_model_version(NAME, "3")
    assert run_cli("push", cwd=repo).returncode == 0
    deleted = git(repo, "rev-parse", REF).strip()
    forged = forge(
        repo, deleted, {"versions/3.yaml": git(repo, "show", f"{published}:versions/3.yaml")}
    )
    refused(push_sha(repo, forged), "version 3 was deleted and cannot come back")
    assert remote_ref(guarded, REF) == deleted


def test_history_rewrites_are_refused(repo, guarded, published):  # noqa: F811
    Client(str(repo)).set_registered_model_alias(NAME, "champion", "3")
    sibling = git(repo, "rev-parse", REF).strip()
    # the same change, but on the published tip's parent: not a fast-forward
    rewritten = git(
        repo, "commit-tree", f"{sibling}^{{tree}}", "-p", f"{published}^", "-m", "rewritten"
    ).strip()
    res = subprocess.run(
        ["git", "push", "--force", "origin", f"{rewritten}:{REF}"],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    refused(res, "may only move forward")
    assert remote_ref(guarded, REF) == published


@pytest.mark.parametrize(
    ("files", "why"),
    [
        ({"registered_model.yaml": "a: &x [*x, *x]\n"}, "malformed registry record in commit"),
        ({"registered_model.yaml": "name: [unclosed\n"}, "malformed registry record in commit"),
        ({"versions/2.yaml": "version: 7\nname: x\n"}, "malformed registry record in commit"),
        ({"notes.txt": "hello\n"}, "'notes.txt' does not belong in a registered model's commit"),
        ({"versions/02.yaml": "version: 2\n"}, "'02.yaml' is not a version record"),
    ],
    ids=["yaml-alias", "not-yaml", "wrong-number", "stray-file", "odd-version-file"],
)
def test_records_that_do_not_read_are_refused(repo, guarded, published, files, why):  # noqa: F811
    forged = forge(repo, published, files)
    refused(push_sha(repo, forged), why)
    assert remote_ref(guarded, REF) == published


def test_a_model_under_another_names_ref_is_refused(repo, guarded, published):  # noqa: F811
    model = record(repo, published, "registered_model.yaml")
    model["name"] = "someone else"
    forged = forge(repo, published, {"registered_model.yaml": dump(model)})
    refused(push_sha(repo, forged), "holds model 'someone else', whose ref is")
    # and a ref that is not the sha256 of a name
    res = push_sha(repo, published, "refs/gittrack/registry/not-a-key")
    assert res.returncode != 0 and "malformed registry ref" in res.stderr, res.stderr
    assert registry_key("someone else") not in git(guarded, "for-each-ref")


@pytest.mark.parametrize(
    "attack",
    ["alias_bomb", "deep_nesting", "versions_symlink", "version_gitlink", "no_model_file"],
)
def test_hostile_new_registry_refs_are_refused_quickly(repo, guarded, attack):  # noqa: F811
    """A registry ref crafted from scratch with git plumbing (no gittrack code): the guard
    reads it with the bounded reader and refuses without hanging."""
    from tests.hostile import Gitlink, Symlink, alias_bomb_yaml, deep_yaml, write_tree

    model = dump({"name": NAME, "tags": {}, "aliases": {}, "deleted": False}).encode()
    v1 = dump(
        {"name": NAME, "version": 1, "source": "s3://x", "tags": {}, "deleted": False}
    ).encode()
    head = git(repo, "rev-parse", "HEAD").strip()
    trees = {
        "alias_bomb": {"registered_model.yaml": alias_bomb_yaml()},
        "deep_nesting": {"registered_model.yaml": deep_yaml()},
        "versions_symlink": {"registered_model.yaml": model, "versions": Symlink(b"/etc")},
        "version_gitlink": {"registered_model.yaml": model, "versions": {"1.yaml": Gitlink(head)}},
        "no_model_file": {"versions": {"1.yaml": v1}},
    }
    tree = write_tree(repo, trees[attack])
    commit = git(repo, "commit-tree", tree, "-m", "crafted").strip()
    res = subprocess.run(  # a hang fails the test through the timeout
        ["git", "push", "origin", f"{commit}:{REF}"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
    )
    refused(res, "malformed registry")
    assert remote_ref(guarded, REF) == ""
