"""``--verify``: compare an MLflow source with what was imported, and list every difference.

Compared per run: name, status, times, user, lifecycle, params, tags, every metric
point (step, value, timestamp; NaN equal to NaN) and every artifact's sha256.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gittrack.importer.mapping import Mapping
from gittrack.importer.model import Point, SourceRun
from gittrack.importer.sources.opener import open_source

if TYPE_CHECKING:
    from gittrack.core.repo import Repo

# tags gittrack adds to an imported run (not at the source)
_OWN_TAGS = ("gittrack.", "mlflow.parentRunId")


def _key(p: Point | tuple[str, float, int, int]) -> tuple[Any, ...]:
    return (p[0], p[2], p[3], repr(p[1]))


def verify_mlflow(
    repo: Repo, uri: str, *, experiments: list[str] | None = None, since: str | None = None
) -> list[str]:
    """The differences between the MLflow source and the repository (empty: none).

    Raises:
        ImportRefused: the source cannot be read (see :func:`import_mlflow`).
    """
    from gittrack.core.reader import Store
    from gittrack.importer.pipeline import BATCH, select

    source = open_source(uri)
    try:
        _, runs = select(source, experiments, since)
        mapping = Mapping(repo, source.uri)
        store = Store(repo)
        diffs: list[str] = []
        with tempfile.TemporaryDirectory(prefix="gittrack-verify-") as scratch:
            for start in range(0, len(runs), BATCH):
                batch = runs[start : start + BATCH]
                histories = source.histories(batch)
                for run in batch:
                    entry = mapping.entries.get(run.run_id)
                    if entry is None:
                        diffs.append(f"run {run.run_id}: not imported")
                        continue
                    try:
                        got = store.read_run(entry.run_id)
                    except Exception as exc:
                        diffs.append(f"run {run.run_id}: gittrack run {entry.run_id}: {exc}")
                        continue
                    files, problems = source.artifact_files(run, Path(scratch) / run.run_id)
                    where = f"run {run.run_id}"
                    diffs += [f"{where}: artifact {p}" for p in problems]
                    diffs += _compare_run(store, run, got, mapping, where)
                    diffs += _compare_history(store, entry.run_id, histories[run.run_id], where)
                    diffs += _compare_artifacts(repo, entry.run_id, files, where)
        return diffs
    finally:
        source.close()


def _compare_run(store: Any, run: SourceRun, got: Any, mapping: Mapping, where: str) -> list[str]:
    out: list[str] = []
    info = got.info
    want = {
        "status": run.status,
        "start_time": run.start_time,
        "end_time": run.end_time if run.end_time is not None else run.start_time,
        "lifecycle_stage": run.lifecycle,
        "run_name": run.tags.get("mlflow.runName") or run.name or run.run_id,
    }
    if run.status not in ("FINISHED", "FAILED", "KILLED"):
        want.pop("status")
        want["end_time"] = run.end_time
    for name, value in want.items():
        if getattr(info, name) != value:
            out.append(f"{where}: {name} is {getattr(info, name)!r}, MLflow has {value!r}")
    params = got.data.params
    for key, value in run.params.items():
        if params.get(key) != value:
            out.append(f"{where}: param {key} is {params.get(key)!r}, MLflow has {value!r}")
    for key in set(params) - set(run.params):
        out.append(f"{where}: param {key} is not at the source")
    tags = got.data.tags
    for key, value in run.tags.items():
        if key == "mlflow.parentRunId":
            entry = mapping.entries.get(value)
            value = entry.run_id if entry is not None else value
        if tags.get(key) != value:
            out.append(f"{where}: tag {key} is {tags.get(key)!r}, MLflow has {value!r}")
    return out


def _compare_history(store: Any, run_id: str, points: list[Point], where: str) -> list[str]:
    out: list[str] = []
    by_key: dict[str, list[Point]] = {}
    for p in points:
        by_key.setdefault(p[0], []).append(p)
    keys = set(store.metric_keys(run_id))
    for key in sorted(keys - set(by_key)):
        out.append(f"{where}: metric {key} is not at the source")
    for key, want in sorted(by_key.items()):
        steps, values, stamps = store.metric_arrays(run_id, key)
        have = sorted(map(_key, zip([key] * len(steps), values, steps, stamps, strict=True)))
        need = sorted(map(_key, want))
        if have != need:
            extra = len(set(have) - set(need))
            lost = len(set(need) - set(have))
            out.append(
                f"{where}: metric {key} has {len(have)} points, MLflow {len(need)} "
                f"({lost} missing, {extra} different)"
            )
    return out


def _compare_artifacts(
    repo: Repo, run_id: str, files: list[tuple[str, str]], where: str
) -> list[str]:
    from gittrack.artifacts.cas import sha256_file
    from gittrack.core.reader import Store

    manifest = Store(repo).read_record(Store(repo).run_commit(run_id), run_id)["artifacts"]
    out: list[str] = []
    seen = set()
    for local, path in files:
        seen.add(path)
        entry = manifest.get(path)
        if entry is None:
            out.append(f"{where}: artifact {path} was not imported")
            continue
        sha, _ = sha256_file(local)
        if entry.get("sha256") != sha:
            out.append(f"{where}: artifact {path} differs (sha256 {entry.get('sha256')} here)")
    for path in sorted(set(manifest) - seen):
        out.append(f"{where}: artifact {path} is not at the source")
    return out
