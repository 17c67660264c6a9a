"""The three-way merge of one registered model's records (gittrack.remote.registry_merge),
case by case: what merges, what is renumbered, and what is a conflict."""

from __future__ import annotations

import copy
from typing import Any

from gittrack.core.registry import ModelState
from gittrack.remote.registry_merge import merge_states

LABEL = "model 'm'"


def version(n: int, source: str, **extra: Any) -> dict[str, Any]:
    rec = {
        "name": "m",
        "version": n,
        "source": source,
        "run_id": None,
        "current_stage": "None",
        "description": None,
        "tags": {},
        "creation_timestamp": 1000 + n,
        "last_updated_timestamp": 1000 + n,
        "deleted": False,
    }
    rec.update(extra)
    return rec


def state(
    aliases: dict[str, int] | None = None, *versions: dict[str, Any], **model: Any
) -> ModelState:
    rec = {
        "name": "m",
        "description": None,
        "tags": {},
        "aliases": dict(aliases or {}),
        "creation_timestamp": 1,
        "last_updated_timestamp": 1,
        "deleted": False,
    }
    rec.update(model)
    return ModelState(rec, {v["version"]: v for v in versions})


def changed(s: ModelState, **model: Any) -> ModelState:
    out = copy.deepcopy(s)
    out.model.update(model)
    return out


BASE = state({"champion": 1}, version(1, "s3://1"), version(2, "s3://2"))


def test_local_versions_are_renumbered_after_the_remotes_and_aliases_follow():
    ours = copy.deepcopy(BASE)
    ours.versions[3] = version(3, "s3://mine-3")
    ours.versions[4] = version(4, "s3://mine-4")
    ours.model["aliases"]["candidate"] = 4
    theirs = copy.deepcopy(BASE)
    theirs.versions[3] = version(3, "s3://theirs-3")
    res = merge_states(BASE, ours, theirs, LABEL)
    assert res.ok, res.conflicts
    assert res.renumbered == {3: 4, 4: 5}
    got = {n: (v["version"], v["source"]) for n, v in res.state.versions.items()}
    assert got == {
        1: (1, "s3://1"),
        2: (2, "s3://2"),
        3: (3, "s3://theirs-3"),
        4: (4, "s3://mine-3"),
        5: (5, "s3://mine-4"),
    }
    assert res.state.model["aliases"] == {"champion": 1, "candidate": 5}
    assert "alias candidate: 4 -> 5" in res.changes


def test_tombstones_count_so_no_number_is_reused():
    theirs = copy.deepcopy(BASE)
    theirs.versions[3] = version(3, "REDACTED-SOURCE-PATH", deleted=True)
    ours = copy.deepcopy(BASE)
    ours.versions[3] = version(3, "s3://mine")
    res = merge_states(BASE, ours, theirs, LABEL)
    assert res.ok and res.renumbered == {3: 4}
    assert res.state.versions[3]["deleted"] is True


def test_a_free_local_number_is_kept():
    ours = copy.deepcopy(BASE)
    ours.versions[3] = version(3, "s3://mine")
    theirs = changed(BASE, description="remote text")
    res = merge_states(BASE, ours, theirs, LABEL)
    assert res.ok and res.renumbered == {}
    assert res.state.versions[3]["source"] == "s3://mine"
    assert res.state.model["description"] == "remote text"


def test_independent_aliases_tags_and_version_fields_merge():
    ours = changed(BASE, aliases={"champion": 1, "shadow": 2}, tags={"a": "1"})
    ours.versions[1]["tags"] = {"ok": "yes"}
    theirs = changed(BASE, aliases={"champion": 2}, tags={"b": "2"}, last_updated_timestamp=9)
    theirs.versions[2]["current_stage"] = "Production"
    res = merge_states(BASE, ours, theirs, LABEL)
    assert res.ok, res.conflicts
    assert res.state.model["aliases"] == {"champion": 2, "shadow": 2}
    assert res.state.model["tags"] == {"a": "1", "b": "2"}
    assert res.state.model["last_updated_timestamp"] == 9
    assert res.state.versions[1]["tags"] == {"ok": "yes"}
    assert res.state.versions[2]["current_stage"] == "Production"


def test_the_same_alias_moved_both_ways_is_a_conflict_naming_both():
    ours = changed(BASE, aliases={"champion": 2})
    theirs = copy.deepcopy(BASE)
    theirs.versions[3] = version(3, "s3://3")
    theirs.model["aliases"] = {"champion": 3}
    res = merge_states(BASE, ours, theirs, LABEL)
    assert res.conflicts == [f"{LABEL} alias champion: 2 here, 3 on the remote (was 1)"]


def test_the_same_tag_or_description_changed_both_ways_is_a_conflict():
    ours = changed(BASE, description="mine", tags={"k": "a"})
    theirs = changed(BASE, description="theirs", tags={"k": "b"})
    res = merge_states(BASE, ours, theirs, LABEL)
    assert res.conflicts == [
        f"{LABEL} description: 'mine' here, 'theirs' on the remote (was (none))",
        f"{LABEL} tag k: 'a' here, 'b' on the remote (was (none))",
    ]


def test_an_alias_left_on_a_version_deleted_on_the_other_side_is_a_conflict():
    ours = changed(BASE, aliases={"champion": 1, "backup": 2})
    theirs = copy.deepcopy(BASE)
    theirs.versions[2] = version(2, "REDACTED-SOURCE-PATH", deleted=True)
    res = merge_states(BASE, ours, theirs, LABEL)
    assert res.conflicts == [
        f"{LABEL} alias backup: points at version 2, which was deleted on the remote"
    ]


def test_new_versions_of_a_model_deleted_on_the_other_side_are_a_conflict():
    ours = copy.deepcopy(BASE)
    ours.versions[3] = version(3, "s3://mine")
    theirs = changed(BASE, deleted=True, aliases={})
    for v in theirs.versions.values():
        v["deleted"] = True
    res = merge_states(BASE, ours, theirs, LABEL)
    assert any(
        "was deleted on one side while the other added version(s) 3" in c for c in res.conflicts
    )


def test_names_created_in_both_clones_merge_against_a_fresh_record():
    ours = state(
        {"mine": 1}, version(1, "s3://ours"), description="from ours", creation_timestamp=5
    )
    theirs = state({"theirs": 1}, version(1, "s3://theirs"), tags={"t": "1"}, creation_timestamp=3)
    res = merge_states(None, ours, theirs, LABEL)
    assert res.ok, res.conflicts
    assert res.renumbered == {1: 2}
    assert res.state.model["aliases"] == {"theirs": 1, "mine": 2}
    assert res.state.model["description"] == "from ours"
    assert res.state.model["tags"] == {"t": "1"}
    assert res.state.model["creation_timestamp"] == 3
