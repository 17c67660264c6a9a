"""Helpers for the remote tests and the W4 benchmark: bare remotes, git daemon, smart HTTP,
and run commits forged with pygit2 in the layout of the architecture (for bulk data)."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pygit2
import yaml

RUNS = "refs/gittrack/runs/"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_COMMITTER_NAME": "Test Author",
    "GIT_COMMITTER_EMAIL": "author@example.com",
}


def sh_git(cwd, *args: str, check: bool = True, input: str | None = None) -> str:
    out = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **GIT_ENV},
        capture_output=True,
        text=True,
        input=input,
        check=False,
    )
    if check and out.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {out.stderr}")
    return out.stdout


def make_bare(path: Path) -> Path:
    sh_git(path.parent, "init", "-q", "--bare", "-b", "main", str(path))
    return path


def _dump(obj) -> bytes:
    return yaml.dump(
        obj, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), sort_keys=False
    ).encode()


def _run_files(
    run_id: str,
    *,
    index: int,
    now: int,
    status: str,
    experiment_id: str,
    base: str,
    steps: int,
    rng: random.Random,
    artifact_uri: str,
) -> dict[str, bytes]:
    """The ``.gittrack/`` files of a forged run (path inside ``.gittrack/`` -> bytes): its
    record, 10 params, 3 tags, and 5 metrics of ``steps`` random points (drawn from ``rng``
    metric by metric) in ``metrics/<key>/000000.tsv`` with their summaries."""
    run = {
        "format": 1,
        "run_id": run_id,
        "name": f"run-{index}",
        "experiment_id": experiment_id,
        "status": status,
        "start_time": now,
        "end_time": None if status == "RUNNING" else now + 1000,
        "user": "tester",
        "host": "localhost",
        "pid": 1,
        "command": "train.py",
        "source_name": "train.py",
        "source_type": "LOCAL",
        "source": {
            "commit": base,
            "branch": "main",
            "remote_url": None,
            "dirty": False,
            "skipped_files": [],
        },
        "parent_run_id": None,
        "lifecycle": "active",
        "heartbeat": now,
        "artifact_uri": artifact_uri,
    }
    files = {
        "run.yaml": _dump(run),
        "params.yaml": _dump({f"p{j}": f"v{(index + j) % 4}" for j in range(10)}),
        "tags.yaml": _dump({"team": "a", "variant": str(index % 3), "run_index": str(index)}),
    }
    metrics = {}
    for m in range(5):
        vals = [rng.random() for _ in range(steps)]
        files[f"metrics/m{m}/000000.tsv"] = "".join(
            f"{s}\t{v!r}\t{now + s}\n" for s, v in enumerate(vals)
        ).encode()
        metrics[f"m{m}"] = {
            "value": vals[-1],
            "step": steps - 1,
            "timestamp": now + steps - 1,
            "min": min(vals),
            "max": max(vals),
            "count": steps,
        }
    files["metrics.yaml"] = _dump(metrics)
    return files


def forge_run(
    repo_path: str | os.PathLike[str],
    *,
    run_id: str | None = None,
    status: str = "FINISHED",
    experiment_id: str = "0",
    index: int = 0,
    parent: str | None = None,
    steps: int = 3,
    rng: random.Random | None = None,
    extra_files: dict[str, bytes] | None = None,
) -> tuple[str, str]:
    """Write one run commit (or a checkpoint on ``parent``); return (run_id, commit sha)."""
    git = pygit2.Repository(os.fspath(repo_path))
    rng = rng or random.Random(index)
    run_id = run_id or uuid.uuid4().hex
    base = git.head.peel(pygit2.Commit)
    parent_commit = git[parent] if parent else base
    now = 1_700_000_000_000 + index
    files = _run_files(
        run_id,
        index=index,
        now=now,
        status=status,
        experiment_id=experiment_id,
        base=str(base.id),
        steps=steps,
        rng=rng,
        artifact_uri=f"runs:/{run_id}/artifacts",
    )
    mtb = git.TreeBuilder()
    gtb = git.TreeBuilder()
    for name, data in files.items():
        if name.startswith("metrics/"):  # metrics/<key>/000000.tsv
            _, key, chunk = name.split("/")
            ktb = git.TreeBuilder()
            ktb.insert(chunk, git.create_blob(data), pygit2.GIT_FILEMODE_BLOB)
            mtb.insert(key, ktb.write(), pygit2.GIT_FILEMODE_TREE)
        else:
            gtb.insert(name, git.create_blob(data), pygit2.GIT_FILEMODE_BLOB)
    gtb.insert("metrics", mtb.write(), pygit2.GIT_FILEMODE_TREE)
    root = git.TreeBuilder(base.tree)
    for name, data in (extra_files or {}).items():
        root.insert(name, git.create_blob(data), pygit2.GIT_FILEMODE_BLOB)
    root.insert(".gittrack", gtb.write(), pygit2.GIT_FILEMODE_TREE)
    sig = pygit2.Signature("Test Author", "author@example.com", int(now / 1000), 0)
    commit = git.create_commit(None, sig, sig, f"run {run_id}\n", root.write(), [parent_commit.id])
    git.references.create(RUNS + run_id, commit, force=True)
    return run_id, str(commit)


def bulk_forge_runs(repo_path, n: int, *, seed: int = 0, steps: int = 10) -> list[str]:
    """Like :func:`forge_runs` but through one ``git fast-import`` (for 10,000s of runs)."""
    rng = random.Random(seed)
    base = sh_git(repo_path, "rev-parse", "HEAD").strip()
    out: list[bytes] = []
    ids = []

    def data(b: bytes) -> None:
        out.append(b"data %d\n" % len(b) + b + b"\n")

    for i in range(n):
        run_id = uuid.UUID(int=rng.getrandbits(128)).hex
        ids.append(run_id)
        now = 1_700_000_000_000 + i
        files = _run_files(
            run_id,
            index=i,
            now=now,
            status="FINISHED",
            experiment_id="0",
            base=base,
            steps=steps,
            rng=rng,
            artifact_uri=f"runs:/{run_id}",
        )
        out.append(f"commit {RUNS}{run_id}\n".encode())
        stamp = f"Test Author <author@example.com> {now // 1000} +0000\n".encode()
        out.append(b"author " + stamp + b"committer " + stamp)
        data(f"run {run_id}\n".encode())
        out.append(f"from {base}\n".encode())
        for name, blob in files.items():
            out.append(f"M 100644 inline .gittrack/{name}\n".encode())
            data(blob)
    subprocess.run(
        ["git", "fast-import", "--quiet"],
        cwd=repo_path,
        input=b"".join(out),
        check=True,
        env={**os.environ, **GIT_ENV},
    )
    return ids


def forge_runs(repo_path, n: int, *, seed: int = 0, steps: int = 3) -> list[str]:
    rng = random.Random(seed)
    return [
        forge_run(
            repo_path, index=i, rng=rng, steps=steps, run_id=uuid.UUID(int=rng.getrandbits(128)).hex
        )[0]
        for i in range(n)
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port}")


class GitDaemon:
    """``git daemon`` serving a base path on 127.0.0.1 at a free port, push enabled."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.port = free_port()
        self.proc = subprocess.Popen(
            [
                "git",
                "daemon",
                "--reuseaddr",
                "--listen=127.0.0.1",
                f"--port={self.port}",
                f"--base-path={base}",
                "--export-all",
                "--enable=receive-pack",
                str(base),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(self.port)

    def url(self, name: str) -> str:
        return f"git://127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class SmartHTTP:
    """``git http-backend`` (CGI) behind a small threaded HTTP server on 127.0.0.1.

    ``auth=(user, password)`` requires HTTP basic auth, answering 401 otherwise.
    """

    def __init__(self, base: Path, auth: tuple[str, str] | None = None) -> None:
        self.base = base
        backend = (
            subprocess.run(
                ["git", "--exec-path"], capture_output=True, text=True, check=True
            ).stdout.strip()
            + "/git-http-backend"
        )
        import base64

        expected = (
            "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode() if auth else None
        )

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args):  # quiet
                pass

            def _cgi(self):
                if expected and self.headers.get("Authorization") != expected:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="git"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                path, _, query = self.path.partition("?")
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                env = {
                    "PATH": os.environ.get("PATH", ""),
                    # the guard hook imports gittrack: the checkout under test
                    "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
                    "GIT_PROJECT_ROOT": str(base),
                    "GIT_HTTP_EXPORT_ALL": "1",
                    "REQUEST_METHOD": self.command,
                    "PATH_INFO": path,
                    "QUERY_STRING": query,
                    "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                    "CONTENT_LENGTH": str(len(body)),
                    "REMOTE_USER": "tester",
                    "REMOTE_ADDR": "127.0.0.1",
                    "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
                    "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
                }
                proc = subprocess.run([backend], input=body, env=env, capture_output=True)
                head, _, payload = proc.stdout.partition(b"\r\n\r\n")
                if not _:
                    head, _, payload = proc.stdout.partition(b"\n\n")
                status = 200
                headers = []
                for line in head.decode("latin-1").splitlines():
                    k, _, v = line.partition(":")
                    if k.lower() == "status":
                        status = int(v.strip().split()[0])
                    elif k:
                        headers.append((k, v.strip()))
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = _cgi
            do_POST = _cgi

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
