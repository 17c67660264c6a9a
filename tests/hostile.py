"""Hostile refs, crafted with git plumbing as an attacker would push them.

What a malicious pusher can put in a repository does not go through gittrack's writer,
so these helpers write the objects with git plumbing alone — no gittrack code — and
what is tested is what a reader meets in a repository somebody else pushed to.

Two ways in: each attack in :data:`ATTACKS` is a function ``(run_id) -> Tree`` giving the
``.gittrack/`` entries (or the whole root tree) of one run commit, which :func:`plant`
writes with ``git mktree``; :func:`craft_run` and :func:`craft_model` write refs whose
records are given as data (dicts dumped to YAML).

>>> run_id = plant(repo, "alias_bomb")          # doctest: +SKIP
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Union

import yaml

from tests.conftest import forge_commit

RUNS = "refs/gittrack/runs/"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Mallory",
    "GIT_AUTHOR_EMAIL": "mallory@example.com",
    "GIT_COMMITTER_NAME": "Mallory",
    "GIT_COMMITTER_EMAIL": "mallory@example.com",
}

# A tree is {name: bytes (a blob) | Tree (a folder) | Gitlink | Symlink}.
Tree = dict[str, Union[bytes, "Tree", "Gitlink", "Symlink"]]


class Gitlink(str):
    """A tree entry of mode 160000 (a submodule commit) with this commit id."""


class Symlink(bytes):
    """A tree entry of mode 120000 (a symbolic link) pointing at these bytes."""


def _git(repo: Path | str, *args: str, data: bytes | None = None) -> str:
    out = subprocess.run(
        ["git", *args],
        cwd=repo,
        input=data,
        capture_output=True,
        env={**os.environ, **GIT_ENV},
        check=False,
    )
    if out.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {out.stderr.decode(errors='replace')}")
    return out.stdout.decode().strip()


def write_tree(repo: Path | str, tree: Tree) -> str:
    """Write ``tree`` with ``git hash-object -w`` and ``git mktree``; return its id."""
    lines = []
    for name, value in tree.items():
        if isinstance(value, Gitlink):
            lines.append(f"160000 commit {value}\t{name}")
        elif isinstance(value, Symlink):
            oid = _git(repo, "hash-object", "-w", "--stdin", data=bytes(value))
            lines.append(f"120000 blob {oid}\t{name}")
        elif isinstance(value, bytes):
            oid = _git(repo, "hash-object", "-w", "--stdin", data=value)
            lines.append(f"100644 blob {oid}\t{name}")
        else:
            lines.append(f"040000 tree {write_tree(repo, value)}\t{name}")
    return _git(repo, "mktree", "--missing", data="".join(f"{ln}\n" for ln in lines).encode())


def run_yaml(run_id: str, **fields: object) -> bytes:
    """A valid ``run.yaml`` for ``run_id`` (FINISHED), with ``fields`` overriding."""
    record: dict[str, object] = {
        "format": 1,
        "run_id": run_id,
        "name": "hostile",
        "experiment_id": "0",
        "status": "FINISHED",
        "start_time": 1_700_000_000_000,
        "end_time": 1_700_000_001_000,
        "user": "mallory",
        "host": "elsewhere",
        "lifecycle": "active",
    }
    record.update(fields)
    lines = []
    for key, value in record.items():
        shown = "null" if value is None else value
        if isinstance(value, str):
            shown = "'" + value.replace("'", "''") + "'"
        lines.append(f"{key}: {shown}")
    return ("\n".join(lines) + "\n").encode()


def plant(
    repo: Path | str,
    attack: str | Callable[[str], Tree],
    run_id: str | None = None,
    *,
    whole_root: bool = False,
) -> str:
    """Commit the attack's tree on ``refs/gittrack/runs/<run_id>``; return the run id.

    ``attack`` is a name in :data:`ATTACKS` or a function of the run id returning the
    ``.gittrack/`` folder (or, with ``whole_root`` / an attack in :data:`ROOT_ATTACKS`,
    the whole root tree).
    """
    run_id = run_id or uuid.uuid4().hex
    if isinstance(attack, str):
        whole_root = whole_root or attack in ROOT_ATTACKS
        attack = ATTACKS[attack]
    tree = attack(run_id)
    root = tree if whole_root else {".gittrack": tree}
    tree_id = write_tree(repo, root)
    commit = _git(repo, "commit-tree", tree_id, "-m", f"hostile run {run_id}")
    _git(repo, "update-ref", RUNS + run_id, commit)
    return run_id


# --- the attacks ---------------------------------------------------------------------


def alias_bomb_yaml(levels: int = 9, width: int = 10) -> bytes:
    """The ~800-byte "billion laughs": ``width ** levels`` leaves once expanded."""
    lines = ["a0: &a0 {" + ", ".join(f"k{i}: v" for i in range(width)) + "}"]
    for lvl in range(1, levels):
        refs = ", ".join(f"k{i}: *a{lvl - 1}" for i in range(width))
        lines.append(f"a{lvl}: &a{lvl} {{{refs}}}")
    return ("\n".join(lines) + "\n").encode()


def _with(run_id: str, **files: bytes) -> Tree:
    tree: Tree = {"run.yaml": run_yaml(run_id)}
    tree.update({name.replace("_yaml", ".yaml"): data for name, data in files.items()})
    return tree


def deep_yaml(depth: int = 100_000) -> bytes:
    """A flow sequence nested ``depth`` deep (crashes a recursive C parser)."""
    return b"k: " + b"[" * depth + b"]" * depth + b"\n"


ATTACKS: dict[str, Callable[[str], Tree]] = {
    # params.yaml: 9 levels of 10 aliases each
    "alias_bomb": lambda rid: _with(rid, params_yaml=alias_bomb_yaml()),
    # a 1 MiB key in tags.yaml
    "huge_key": lambda rid: _with(rid, tags_yaml=b"k" * (1 << 20) + b": v\n"),
    # 100,000 nested flow sequences in metrics.yaml
    "deep_nesting": lambda rid: _with(rid, metrics_yaml=deep_yaml()),
    # artifact paths that leave the run's folder
    "absolute_path": lambda rid: _with(
        rid,
        artifacts_yaml=b"/etc/passwd: {sha256: " + b"a" * 64 + b", size: 10, where: store}\n",
    ),
    "dotdot_path": lambda rid: _with(
        rid,
        artifacts_yaml=b"../../config: {sha256: " + b"a" * 64 + b", size: 10, where: git}\n",
    ),
    # .gittrack is a file, or a submodule commit
    "gittrack_file": lambda rid: {".gittrack": run_yaml(rid), "train.py": b"x = 1\n"},
    "gittrack_gitlink": lambda rid: {".gittrack": Gitlink("1" * 40), "train.py": b"x = 1\n"},
    "gittrack_symlink": lambda rid: {".gittrack": Symlink(b"/etc"), "train.py": b"x = 1\n"},
    # a record file that is a symbolic link (to a file of the server, say)
    "record_symlink": lambda rid: {
        "run.yaml": run_yaml(rid),
        "params.yaml": Symlink(b"../../../../etc/passwd"),
    },
    # run.yaml names another run, or a status that does not exist
    "wrong_run_id": lambda rid: {"run.yaml": run_yaml("f" * 32)},
    "unknown_status": lambda rid: {"run.yaml": run_yaml(rid, status="BOGUS")},
    # bytes that are not UTF-8
    "non_utf8": lambda rid: _with(rid, params_yaml=b"lr: \xff\xfe\x80\n"),
    # a 50 MB params.yaml of ordinary lines
    "big_record": lambda rid: _with(
        rid, params_yaml=b"".join(b"p%07d: %s\n" % (i, b"v" * 40) for i in range(1_050_000))
    ),
}
# runs whose record reads, but whose metric history is not what a writer makes
HISTORY_ATTACKS: dict[str, Callable[[str], Tree]] = {
    "metrics_file": lambda rid: {"run.yaml": run_yaml(rid), "metrics": b"not a folder\n"},
    "key_file": lambda rid: {"run.yaml": run_yaml(rid), "metrics": {"loss": b"0\t1.0\t5\n"}},
    "chunk_folder": lambda rid: {
        "run.yaml": run_yaml(rid),
        "metrics": {"loss": {"000000.tsv": {"x": b"1"}}},
    },
    "chunk_symlink": lambda rid: {
        "run.yaml": run_yaml(rid),
        "metrics": {"loss": {"000000.tsv": Symlink(b"/etc/passwd")}},
    },
    "chunk_not_numbers": lambda rid: {
        "run.yaml": run_yaml(rid),
        "metrics": {"loss": {"000000.tsv": b"a\tb\tc\n"}},
    },
}
ROOT_ATTACKS = frozenset({"gittrack_file", "gittrack_gitlink", "gittrack_symlink"})


# --- records crafted as data: runs and logged models with chosen YAML ------------------
#
# Reuse these for any "refused, skipped, never served" test::
#
#     rid = craft_run(repo, artifacts={"creds.txt": store_entry("../../../../etc/passwd")})

# sha256 values that name files outside the artifact store (issue 12, finding 1)
PASSWD_SHA = "../../../../../../etc/passwd"
CONFIG_SHA = "../../../config"  # .git/gittrack/objects/sha256/.. /.. /.. -> .git/config
DEEP_PASSWD_SHA = "../" * 40 + "etc/passwd"  # reaches / from any depth
HOSTILE_SHAS = (PASSWD_SHA, CONFIG_SHA, DEEP_PASSWD_SHA)


def store_entry(sha256: str, size: int = 10, where: str = "store") -> dict[str, Any]:
    """One ``artifacts.yaml`` entry, whatever its fields hold."""
    return {"sha256": sha256, "size": size, "where": where}


def run_record(run_id: str, experiment_id: str = "0", **fields: Any) -> dict[str, Any]:
    """A well-formed ``run.yaml`` of a finished run (override any field)."""
    record = {
        "format": 1,
        "run_id": run_id,
        "name": "hostile",
        "experiment_id": experiment_id,
        "status": "FINISHED",
        "start_time": 1_700_000_000_000,
        "end_time": 1_700_000_001_000,
        "user": "mallory",
        "lifecycle": "active",
        "artifact_uri": f"runs:/{run_id}",
    }
    record.update(fields)
    return record


def craft_run(
    repo: Path | str,
    *,
    run_id: str | None = None,
    run: dict[str, Any] | None = None,
    artifacts: dict[str, Any] | None = None,
    files: dict[str, bytes] | None = None,
) -> str:
    """Write ``refs/gittrack/runs/<run_id>`` pointing at one crafted commit; returns the id.

    The commit's tree holds ``.gittrack/run.yaml`` (``run`` or a valid record),
    ``.gittrack/artifacts.yaml`` (``artifacts``, when given) and ``files``
    (tree path -> bytes, e.g. ``{".gittrack/params.yaml": b"..."}``). ``repo`` may
    be bare or have a work tree; its index and work tree are not touched.
    """
    run_id = run_id or uuid.uuid4().hex
    blobs: dict[str, bytes] = {
        ".gittrack/run.yaml": yaml.safe_dump(run or run_record(run_id)).encode()
    }
    if artifacts is not None:
        blobs[".gittrack/artifacts.yaml"] = yaml.safe_dump(artifacts).encode()
    blobs.update(files or {})
    craft_ref(repo, f"refs/gittrack/runs/{run_id}", blobs)
    return run_id


def craft_model(repo: Path | str, *, artifacts: dict[str, Any], experiment_id: str = "0") -> str:
    """Write ``refs/gittrack/models/<model_id>`` (``model.yaml`` + ``artifacts.yaml``); returns
    the model id."""
    model_id = "m-" + uuid.uuid4().hex
    model = {
        "format": 1,
        "model_id": model_id,
        "experiment_id": experiment_id,
        "name": "hostile-model",
        "status": "READY",
        "lifecycle": "active",
        "creation_time": 1_700_000_000_000,
        "last_updated_time": 1_700_000_000_000,
        "tags": {},
        "params": {},
        "metrics": [],
    }
    craft_ref(
        repo,
        f"refs/gittrack/models/{model_id}",
        {
            "model.yaml": yaml.safe_dump(model).encode(),
            "artifacts.yaml": yaml.safe_dump(artifacts).encode(),
        },
    )
    return model_id


def craft_ref(repo: Path | str, ref: str, blobs: dict[str, bytes]) -> str:
    """Point ``ref`` at a new parentless commit whose tree holds exactly ``blobs``
    (tree path -> bytes); returns the commit sha."""
    commit = forge_commit(repo, blobs, message="hostile record", env=GIT_ENV)
    _git(repo, "update-ref", ref, commit)
    return commit
