"""The model registry travels with ``gittrack push/pull``: two real clones of one bare remote
(guarded: file://, git http-backend, ``gittrack server``) registering, aliasing and tagging
the same name at once, then pulling. Published versions keep their numbers, the local
unpublished ones are renumbered after them (aliases follow) and the pull says so; an alias
moved both ways is a conflict reported with exit status 1, with nothing overwritten."""

from __future__ import annotations

from pathlib import Path

import pytest

from gittrack.api.client import Client
from gittrack.layout import registry_ref
from tests.conftest import git, run_cli
from tests.test_guard import guarded  # noqa: F401 - the fixture

NAME = "churn model"  # a space: the ref is the sha256 of the name


@pytest.fixture
def clones(repo, guarded, tmp_path) -> tuple[Path, Path, Path]:  # noqa: F811 - the fixture
    """(clone a, clone b, the central bare repository): ``repo`` and a clone of the guarded
    central repository (file://, git http-backend, gittrack server), both with ``origin``."""
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", git(repo, "remote", "get-url", "origin").strip(), str(other))
    return repo, other, guarded


def versions_of(path: Path, name: str = NAME) -> dict[str, tuple[str | None, list[str]]]:
    """version -> (source, aliases) as the Client sees them."""
    found = Client(str(path)).search_model_versions(f"name = '{name}'")
    return {v.version: (v.source, sorted(v.aliases)) for v in found}


def tip(path: Path, name: str = NAME) -> str:
    return git(path, "rev-parse", "--verify", "-q", registry_ref(name), check=False).strip()


def ok(res) -> str:
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def test_two_clones_register_the_same_name_and_converge(clones):
    a, b, central = clones
    ca, cb = Client(str(a)), Client(str(b))
    ca.create_registered_model(NAME, tags={"team": "a"})
    ca.create_model_version(NAME, "s3://bucket/a", tags={"who": "a"})
    ca.set_registered_model_alias(NAME, "champion", "1")
    cb.create_registered_model(NAME, description="from b")
    cb.create_model_version(NAME, "s3://bucket/b1")
    cb.create_model_version(NAME, "s3://bucket/b2")
    cb.set_registered_model_alias(NAME, "challenger", "2")

    assert "1 registered model (1 new)" in ok(run_cli("push", cwd=a))
    # b pulls: a's version 1 is published, b's 1 and 2 become 2 and 3, its alias follows
    out = ok(run_cli("pull", cwd=b))
    assert (
        f"merged model {NAME!r}: your version 1 is now version 2; your version 2 is now "
        "version 3 (alias challenger follows)"
    ) in out, out
    assert "1 registered model (1 merged)" in out
    assert versions_of(b) == {
        "1": ("s3://bucket/a", ["champion"]),
        "2": ("s3://bucket/b1", []),
        "3": ("s3://bucket/b2", ["challenger"]),
    }
    model = cb.get_registered_model(NAME)
    assert model.tags == {"team": "a"} and model.description == "from b"
    assert cb.get_model_version(NAME, "1").tags == {"who": "a"}
    # the merge commit has both tips as parents and says what it did
    merge = tip(b)
    assert git(b, "rev-list", "--parents", "-n", "1", merge).split()[1:] == [
        git(b, "rev-parse", f"{merge}^1").strip(),
        tip(central),
    ]
    message = git(b, "log", "-1", "--format=%B", merge)
    assert message.startswith(f"{NAME}: merge from origin: version 1 -> 2"), message
    assert "alias challenger: 2 -> 3" in message

    ok(run_cli("push", cwd=b))
    assert tip(central) == merge
    out = ok(run_cli("pull", cwd=a))
    assert "1 registered model (1 updated)" in out
    assert versions_of(a) == versions_of(b)
    assert tip(a) == tip(b) == tip(central)
    # the next version continues after the highest: no number is ever taken twice
    assert ca.create_model_version(NAME, "s3://bucket/a4").version == "4"
    assert "nothing to do" not in ok(run_cli("push", cwd=a))
    # the alias history reads the merge too: challenger moved with its version
    moves = [(e["alias"], e["old"], e["new"]) for e in _alias_history(b)]
    assert ("challenger", 2, 3) in moves and ("champion", None, 1) in moves


def _alias_history(path: Path) -> list[dict]:
    from gittrack.core.registry import RegistryStore
    from gittrack.core.repo import Repo

    return RegistryStore(Repo(str(path))).alias_history(NAME)


def shared_model(clones, versions: int, **aliases: str) -> tuple[Client, Client]:
    """``NAME`` with ``versions`` versions (and ``aliases``) made in clone a, pushed, and
    pulled into clone b; the two Clients."""
    a, b, _central = clones
    ca, cb = Client(str(a)), Client(str(b))
    ca.create_registered_model(NAME)
    for i in range(1, versions + 1):
        ca.create_model_version(NAME, f"s3://bucket/{i}")
    for alias, v in aliases.items():
        ca.set_registered_model_alias(NAME, alias, v)
    ok(run_cli("push", cwd=a))
    ok(run_cli("pull", cwd=b))
    return ca, cb


def test_independent_aliases_and_tags_merge_both_ways(clones):
    a, b, _central = clones
    ca, cb = shared_model(clones, 3)
    ca.set_registered_model_alias(NAME, "champion", "1")
    ca.set_model_version_tag(NAME, "1", "validated", "yes")
    cb.set_registered_model_alias(NAME, "challenger", "2")
    cb.set_registered_model_tag(NAME, "owner", "b")
    cb.delete_model_version(NAME, "3")
    ok(run_cli("push", cwd=a))
    out = ok(run_cli("pull", cwd=b))
    assert "1 registered model (1 merged)" in out and "now version" not in out
    ok(run_cli("push", cwd=b))
    ok(run_cli("pull", cwd=a))
    for c in (ca, cb):
        model = c.get_registered_model(NAME)
        assert model.aliases == {"champion": "1", "challenger": "2"}
        assert model.tags == {"owner": "b"}
        assert c.get_model_version(NAME, "1").tags == {"validated": "yes"}
        assert sorted(v.version for v in c.search_model_versions(f"name = '{NAME}'")) == ["1", "2"]
    assert tip(a) == tip(b)


def test_the_same_alias_moved_both_ways_is_a_reported_conflict(clones):
    a, b, central = clones
    ca, cb = shared_model(clones, 3, champion="1")
    ca.set_registered_model_alias(NAME, "champion", "2")
    cb.set_registered_model_alias(NAME, "champion", "3")
    ok(run_cli("push", cwd=a))
    mine = tip(b)
    res = run_cli("pull", cwd=b)
    assert res.returncode == 1, res.stdout + res.stderr
    assert (
        f"rejected model {NAME!r} (conflict: model {NAME!r} alias champion: 3 here, 2 on the "
        "remote (was 1). Nothing was changed here."
    ) in res.stderr, res.stderr
    assert "1 rejected (conflict)" in res.stdout
    assert tip(b) == mine  # nothing overwritten
    assert cb.get_registered_model(NAME).aliases == {"champion": "3"}
    # a push cannot sneak it past either
    res = run_cli("push", cwd=b)
    assert res.returncode == 1 and "conflict" in res.stderr
    assert Client(str(a)).get_registered_model(NAME).aliases == {"champion": "2"}
    assert tip(central) == tip(a)

    # resolving: agree with the remote, and the next pull merges
    cb.set_registered_model_alias(NAME, "champion", "2")
    ok(run_cli("pull", cwd=b))
    assert cb.get_registered_model(NAME).aliases == {"champion": "2"}
    # the history still holds b's move to 3 (nothing stored is lost)
    moves = [(e["old"], e["new"]) for e in _alias_history(b) if e["alias"] == "champion"]
    assert (1, 3) in moves


def test_pull_force_takes_the_remote_and_keeps_a_backup(clones):
    a, b, _central = clones
    ca, cb = shared_model(clones, 2)
    ca.set_registered_model_alias(NAME, "champion", "1")
    cb.set_registered_model_alias(NAME, "champion", "2")
    ok(run_cli("push", cwd=a))
    mine = tip(b)
    res = run_cli("pull", "--force", cwd=b)
    assert res.returncode == 0, res.stderr
    assert cb.get_registered_model(NAME).aliases == {"champion": "1"}
    backups = git(b, "for-each-ref", "--format=%(objectname)", "refs/gittrack-backup/")
    assert mine in backups.split()


def test_different_names_never_clash(clones):
    a, b, _central = clones
    Client(str(a)).create_registered_model("alpha")
    Client(str(a)).create_model_version("alpha", "s3://a")
    Client(str(b)).create_registered_model("beta")
    Client(str(b)).create_model_version("beta", "s3://b")
    ok(run_cli("push", cwd=a))
    out = ok(run_cli("pull", cwd=b))
    assert "1 registered model (1 new)" in out
    ok(run_cli("push", cwd=b))
    ok(run_cli("pull", cwd=a))
    for path in (a, b):
        names = sorted(m.name for m in Client(str(path)).search_registered_models())
        assert names == ["alpha", "beta"]


def test_push_merges_before_sending_and_reports_the_renumbering(clones):
    a, b, central = clones
    ca, cb = shared_model(clones, 1)
    ca.create_model_version(NAME, "s3://bucket/a2")
    cb.create_model_version(NAME, "s3://bucket/b2")
    cb.set_registered_model_alias(NAME, "candidate", "2")
    ok(run_cli("push", cwd=a))
    out = ok(run_cli("push", cwd=b))  # no pull first: the push merges, then sends
    assert (
        f"merged model {NAME!r}: your version 2 is now version 3 (alias candidate follows)"
    ) in out, out
    assert tip(central) == tip(b)
    ok(run_cli("pull", cwd=a))
    assert versions_of(a) == {
        "1": ("s3://bucket/1", []),
        "2": ("s3://bucket/a2", []),
        "3": ("s3://bucket/b2", ["candidate"]),
    }
