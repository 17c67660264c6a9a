"""Runs recorded through the real client for the UI tests and the W7 benchmark."""

from __future__ import annotations

import hashlib
import struct
import zlib
from pathlib import Path

XSS_NAME = '<script>window.__xss = 1</script>"><img src=x onerror="window.__xss = 2">'
XSS_TAG = '"><img src=x onerror="window.__xss = 3"><svg onload="window.__xss = 4">'
XSS_NOTE = (
    '# Notes\n\nA **bold** claim with <img src=x onerror="window.__xss = 5"> and '
    "[a bad link](javascript:window.__xss=6) and [a good one](https://example.com/).\n"
)
HTML_ARTIFACT = b"<html><body><script>window.parent.__xss = 7</script>hello</body></html>"


def png_bytes(
    width: int = 16, height: int = 12, rgb: tuple[int, int, int] = (220, 30, 30)
) -> bytes:
    """A real PNG image of one colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def add_artifact(client, run_id: str, path: str, data: bytes) -> None:
    """Store ``data`` as an inline (in-git) artifact of a live run."""
    writer = client.writer(run_id)
    writer.put_record_file(f"artifacts/{path}", data)
    writer.artifacts[path] = {
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "where": "git",
    }
    writer.mark_dirty()


def log_run(
    client,
    i: int,
    *,
    steps: int = 20,
    n_metrics: int = 3,
    name: str | None = None,
    tags: dict | None = None,
    params: dict | None = None,
    experiment_id: str = "0",
    note: str | None = None,
    artifacts: dict[str, bytes] | None = None,
    status: str = "FINISHED",
    t0: int = 1_700_000_000_000,
) -> str:
    """One run shaped like workloads.md: params p{j}, metrics m{k}, tags team/variant/run_index."""
    import random

    from gittrack.core.entities import Metric, Param, RunTag

    rng = random.Random(i)
    run = client.create_run(
        experiment_id,
        run_name=name or f"run-{i:05d}",
        start_time=t0 + i * 1000,
        description=note,
    )
    rid = run.info.run_id
    the_params = params if params is not None else {f"p{j}": f"v{(i + j) % 4}" for j in range(4)}
    the_tags = {"team": "red" if i % 2 else "blue", "variant": f"x{i % 3}", "run_index": str(i)}
    the_tags.update(tags or {})
    metrics = [
        Metric(f"m{k}", rng.random() / (1 + s / 10), t0 + i * 1000 + s * 10, s)
        for k in range(n_metrics)
        for s in range(steps)
    ]
    items = list(the_params.items())
    for start in range(0, max(len(items), 1), 100):
        client.log_batch(
            rid,
            metrics=metrics if start == 0 else (),
            params=[Param(k, str(v)) for k, v in items[start : start + 100]],
            tags=[RunTag(k, v) for k, v in the_tags.items()] if start == 0 else (),
        )
    for path, data in (artifacts or {}).items():
        add_artifact(client, rid, path, data)
    if status != "RUNNING":
        client.set_terminated(rid, status=status, end_time=t0 + i * 1000 + steps * 10 + 500)
    else:
        client.flush(rid)
    return rid


def crashed_run(repo: Path, name: str = "crashed-run") -> str:
    """A run whose process died without ending it (shown as CRASHED)."""
    from tests.conftest import client_process

    return client_process(
        repo,
        "import os, sys\n"
        f"r = c.create_run('0', run_name={name!r})\n"
        "c.log_metric(r.info.run_id, 'm0', 0.5, step=0)\n"
        "c.flush(r.info.run_id)\n"
        "print(r.info.run_id)\n"
        "sys.stdout.flush()\n"
        "os._exit(0)\n",
    )


def build_demo_repo(tmp_path_factory, mp) -> tuple[Path, dict]:
    """A fresh repository with 12 runs, isolated from the user's git config (module fixtures).

    Runs 0-9 are plain; ``xss`` has hostile strings in its name, tag and note, 1,000
    params, 5,000 steps, artifacts of every preview kind and an uncommitted change
    (``lr = 0.5``); ``crashed`` died without ending. Returns ``(path, ids)``.
    """
    from tests.conftest import git, init_project, isolate_env

    isolate_env(mp, tmp_path_factory.mktemp("uihome"))
    path = init_project(
        tmp_path_factory.mktemp("uirepo") / "project", {"train.py": "lr = 0.1\nprint('training')\n"}
    )
    mp.chdir(path)
    from gittrack.api.client import Client

    client = Client(str(path))
    ids: dict = {}
    for i in range(10):
        ids[i] = log_run(client, i)
    (path / "train.py").write_text("lr = 0.5\nprint('training')\n")
    ids["xss"] = log_run(
        client,
        10,
        name=XSS_NAME,
        tags={"evil": XSS_TAG},
        note=XSS_NOTE,
        params={f"hp{j:04d}": j for j in range(1000)},
        steps=5000,
        artifacts={
            "plots/red.png": png_bytes(),
            "page.html": HTML_ARTIFACT,
            "metrics.json": b'{"acc": 0.9, "<b>": "</pre>"}',
            "table.csv": b"a,b\n1,2\n3,4\n",
            "model/MLmodel": b"flavors:\n  sklearn:\n    sklearn_version: 1.4\n",
        },
    )
    git(path, "checkout", "-q", "--", "train.py")
    ids["crashed"] = crashed_run(path)
    client.flush()
    return path, ids
