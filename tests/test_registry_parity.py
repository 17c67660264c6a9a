"""The registry against MLflow's own: one call sequence through gittrack's Client (records in
git) and through MlflowClient on MLflow's SQLAlchemy registry store (SQLite), the same
results, error codes and messages.

Known, deliberate differences are not in the sequence; they are tested on their own below
(gittrack checks ``runs:/`` sources and refuses names over 256 characters or with lone
surrogates, which MLflow's SQLite store takes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from gittrack import Client
from gittrack.errors import GittrackError, InvalidParameter

mlflow = pytest.importorskip("mlflow")


def _v(mv: Any) -> tuple[str, str, str, list[str], dict[str, str]]:
    return (mv.name, str(mv.version), mv.current_stage, sorted(mv.aliases), dict(mv.tags))


def _vs(mv: Any) -> tuple[str, str, str, dict[str, str]]:
    """A version from a search (MLflow's SQL store leaves their aliases out)."""
    return (mv.name, str(mv.version), mv.current_stage, dict(mv.tags))


def _m(rm: Any) -> tuple[str, str | None, dict[str, str], dict[str, str], list[str]]:
    return (
        rm.name,
        rm.description,
        dict(rm.tags),
        {a: str(v) for a, v in rm.aliases.items()},
        sorted(str(v.version) for v in rm.latest_versions),
    )


def _names(models: Any) -> list[str]:
    return [m.name for m in models]


# (label, call): each call gets a client and returns something comparable
SEQUENCE: list[tuple[str, Callable[[Any], Any]]] = [
    ("create", lambda c: _m(c.create_registered_model("with space", {"team": "a"}, "desc"))),
    ("create again", lambda c: c.create_registered_model("with space")),
    ("create other", lambda c: _m(c.create_registered_model("other"))),
    ("version of a missing model", lambda c: c.create_model_version("nope", "s3://b/x")),
    ("v1", lambda c: _v(c.create_model_version("with space", "s3://b/1", tags={"k": "1"}))),
    ("v2", lambda c: _v(c.create_model_version("with space", "s3://b/2", description="two"))),
    ("v3", lambda c: _v(c.create_model_version("with space", "s3://b/3"))),
    ("alias to a missing version", lambda c: c.set_registered_model_alias("with space", "c", 9)),
    ("reserved alias", lambda c: c.set_registered_model_alias("with space", "latest", 1)),
    ("version alias", lambda c: c.set_registered_model_alias("with space", "V2", 1)),
    ("bad alias", lambda c: c.set_registered_model_alias("with space", "a.b", 1)),
    ("alias", lambda c: c.set_registered_model_alias("with space", "champion", 2)),
    ("alias 2", lambda c: c.set_registered_model_alias("with space", "backup", "3")),
    ("by alias", lambda c: _v(c.get_model_version_by_alias("with space", "champion"))),
    ("by latest", lambda c: _v(c.get_model_version_by_alias("with space", "latest"))),
    ("by missing alias", lambda c: c.get_model_version_by_alias("with space", "nope")),
    ("latest of no versions", lambda c: c.get_model_version_by_alias("other", "latest")),
    ("delete missing alias", lambda c: c.delete_registered_model_alias("with space", "nope")),
    ("delete missing tag", lambda c: c.delete_registered_model_tag("with space", "nope")),
    ("delete missing version tag", lambda c: c.delete_model_version_tag("with space", "1", "x")),
    ("tag", lambda c: c.set_registered_model_tag("with space", "t", "v")),
    ("untag", lambda c: c.delete_registered_model_tag("with space", "team")),
    ("version tag", lambda c: c.set_model_version_tag("with space", "2", "q", "w")),
    ("model", lambda c: _m(c.get_registered_model("with space"))),
    ("delete v2 (an alias points at it)", lambda c: c.delete_model_version("with space", "2")),
    ("aliases after", lambda c: _m(c.get_registered_model("with space"))),
    ("get deleted version", lambda c: c.get_model_version("with space", "2")),
    ("delete deleted version", lambda c: c.delete_model_version("with space", "2")),
    ("v4 after a delete", lambda c: _v(c.create_model_version("with space", "s3://b/4"))),
    ("bad stage", lambda c: c.transition_model_version_stage("with space", "1", "Prod")),
    (
        "to production",
        lambda c: _v(c.transition_model_version_stage("with space", 1, "production")),
    ),
    ("to staging", lambda c: _v(c.transition_model_version_stage("with space", 3, "Staging"))),
    (
        "archive existing",
        lambda c: _v(c.transition_model_version_stage("with space", 4, "Production", True)),
    ),
    (
        "archive for archived",
        lambda c: c.transition_model_version_stage("with space", 4, "Archived", True),
    ),
    ("v1 archived", lambda c: _v(c.get_model_version("with space", 1))),
    ("latest versions", lambda c: sorted(_v(v) for v in c.get_latest_versions("with space"))),
    (
        "latest production",
        lambda c: [_v(v) for v in c.get_latest_versions("with space", ["Production"])],
    ),
    ("latest bad stage", lambda c: c.get_latest_versions("with space", ["prod"])),
    ("update version", lambda c: c.update_model_version("with space", 3, "three").description),
    (
        "default order: last updated first",
        lambda c: [str(v.version) for v in c.search_model_versions("name = 'with space'")],
    ),
    ("update missing version", lambda c: c.update_model_version("with space", 9, "x")),
    ("update model", lambda c: c.update_registered_model("with space", "new").description),
    ("update missing model", lambda c: c.update_registered_model("ghost", "x")),
    ("version of a missing model", lambda c: c.get_model_version("ghost", 1)),
    ("version not an int", lambda c: c.get_model_version("with space", "one")),
    ("tag of a missing model", lambda c: c.set_registered_model_tag("ghost", "k", "v")),
    ("rename onto a taken name", lambda c: c.rename_registered_model("with space", "other")),
    ("rename", lambda c: c.rename_registered_model("with space", "renamed") and None),
    ("renamed", lambda c: _m(c.get_registered_model("renamed"))),
    ("old name gone", lambda c: c.get_registered_model("with space")),
    ("versions follow", lambda c: [_vs(v) for v in c.search_model_versions("name = 'renamed'")]),
    ("names", lambda c: _names(c.search_registered_models())),
    ("LIKE", lambda c: _names(c.search_registered_models("name LIKE 'r%'"))),
    ("ILIKE", lambda c: _names(c.search_registered_models("name ILIKE 'OTH%'"))),
    ("tag filter", lambda c: _names(c.search_registered_models("tags.t = 'v'"))),
    ("order", lambda c: _names(c.search_registered_models(order_by=["name DESC"]))),
    ("page 1", lambda c: _names(c.search_registered_models(max_results=1))),
    (
        "page 2",
        lambda c: _names(
            c.search_registered_models(
                max_results=1, page_token=c.search_registered_models(max_results=1).token
            )
        ),
    ),
    (
        "versions by run_id/source",
        lambda c: [
            _vs(v) for v in c.search_model_versions("source_path = 's3://b/3' AND name = 'renamed'")
        ],
    ),
    (
        "versions ordered",
        lambda c: [
            str(v.version)
            for v in c.search_model_versions("name='renamed'", order_by=["version_number ASC"])
        ],
    ),
    ("too many results", lambda c: c.search_registered_models(max_results=1001)),
    ("slash", lambda c: c.create_registered_model("a/b")),
    ("colon", lambda c: c.create_registered_model("a:b")),
    ("dotdot", lambda c: c.create_registered_model("..")),
    ("empty", lambda c: c.create_registered_model("")),
    ("blank", lambda c: c.create_registered_model("  ")),
    ("delete model", lambda c: c.delete_registered_model("other")),
    ("delete it again", lambda c: c.delete_registered_model("other")),
    ("names after", lambda c: _names(c.search_registered_models())),
]

# messages that differ in wording (same code): gittrack's name the position in the filter
MESSAGE_DIFFERS = {"rename onto a taken name", "too many results"}
# MLflow raises these without a code (INTERNAL_ERROR, a 500); gittrack: the caller's 400
CODE_DIFFERS = {"archive for archived"}


def _outcome(client: Any, call: Callable[[Any], Any]) -> tuple[str, Any]:
    from mlflow.exceptions import MlflowException

    try:
        return "ok", call(client)
    except (GittrackError, MlflowException) as exc:
        return exc.error_code, str(exc.message)


def test_same_sequence_same_outcomes(repo, tmp_path):
    from mlflow import MlflowClient

    db = f"sqlite:///{tmp_path / 'registry.db'}"
    theirs = MlflowClient(tracking_uri=db, registry_uri=db)
    ours = Client(repo)
    for label, call in SEQUENCE:
        want, got = _outcome(theirs, call), _outcome(ours, call)
        if label in CODE_DIFFERS:
            assert want[0] == "INTERNAL_ERROR", (label, want)
            assert got == ("INVALID_PARAMETER_VALUE", want[1]), label
        elif want[0] != "ok" and label in MESSAGE_DIFFERS:
            assert got[0] == want[0], (label, got, want)
        else:
            assert got == want, label


def test_differences_from_mlflow_are_refusals(repo):
    """Where MLflow's SQLite store takes what gittrack refuses, gittrack says why."""
    c = Client(repo)
    with pytest.raises(InvalidParameter, match="1000 characters, over the limit of 256"):
        c.create_registered_model("x" * 1000)  # MLflow: fine on SQLite, an error on PostgreSQL
    with pytest.raises(InvalidParameter, match="lone surrogate"):
        c.create_registered_model("bad\udcff")  # MLflow: INTERNAL_ERROR from the UTF-8 codec
    c.create_registered_model("m")
    with pytest.raises(GittrackError, match="not found") as err:
        c.create_model_version("m", "runs:/0123456789abcdef0123456789abcdef/model")
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"  # MLflow records any source
