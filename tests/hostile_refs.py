"""Hostile refs crafted with git plumbing: runs and logged models with chosen records (see also tests/hostile.py).


What a malicious pusher can put in a repository does not go through gittrack's
writer, so these helpers write the objects with ``git hash-object``,
``git update-index`` on a scratch index, ``git write-tree``, ``git commit-tree``
and ``git update-ref`` — the same bytes an attacker would push. Reuse them for
any "refused, skipped, never served" test::

    rid = craft_run(repo, artifacts={"creds.txt": store_entry("../../../../etc/passwd")})
"""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import yaml

# sha256 values that name files outside the artifact store (issue 12, finding 1)
PASSWD_SHA = "../../../../../../etc/passwd"
CONFIG_SHA = "../../../config"  # .git/gittrack/objects/sha256/.. /.. /.. -> .git/config
DEEP_PASSWD_SHA = "../" * 40 + "etc/passwd"  # reaches / from any depth
HOSTILE_SHAS = (PASSWD_SHA, CONFIG_SHA, DEEP_PASSWD_SHA)


def _git(repo: Path | str, *args: str, stdin: bytes | None = None, env: Any = None) -> str:
    out = subprocess.run(
        ["git", *args],
        cwd=repo,
        input=stdin,
        capture_output=True,
        check=True,
        env={**os.environ, **(env or {})},
    )
    return out.stdout.decode().strip()


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
    repo = Path(repo)
    gitdir = Path(_git(repo, "rev-parse", "--absolute-git-dir"))
    index = gitdir / f"hostile-index-{uuid.uuid4().hex}"
    env = {
        "GIT_INDEX_FILE": str(index),
        "GIT_AUTHOR_NAME": "mallory",
        "GIT_AUTHOR_EMAIL": "mallory@example.invalid",
        "GIT_COMMITTER_NAME": "mallory",
        "GIT_COMMITTER_EMAIL": "mallory@example.invalid",
    }
    try:
        for path, data in blobs.items():
            oid = _git(repo, "hash-object", "-w", "--stdin", stdin=data)
            _git(repo, "update-index", "--add", "--cacheinfo", f"100644,{oid},{path}", env=env)
        tree = _git(repo, "write-tree", env=env)
    finally:
        index.unlink(missing_ok=True)
    commit = _git(repo, "commit-tree", tree, "-m", "hostile record", env=env)
    _git(repo, "update-ref", ref, commit)
    return commit
