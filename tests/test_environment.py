"""Environment snapshots: what is captured, stable YAML, diffs, runs and `gittrack env`."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
import venv
from importlib import metadata
from pathlib import Path

import pytest

from gittrack.env import environment
from gittrack.errors import EnvironmentCaptureError
from tests.conftest import run_cli


def make_dist(site: Path, name: str, version: str | None, extra: str = "") -> Path:
    """A ``.dist-info`` directory as pip leaves it (``version=None``: no Version header)."""
    d = site / f"{name}-{version or '0'}.dist-info"
    d.mkdir(parents=True)
    lines = ["Metadata-Version: 2.1", f"Name: {name}"]
    if version is not None:
        lines.append(f"Version: {version}")
    (d / "METADATA").write_text("\n".join(lines) + "\n\n" + extra)
    return d


def with_path(site: Path) -> dict[str, str]:
    return {"PYTHONPATH": f"{site}{os.pathsep}{os.environ['PYTHONPATH']}"}


def test_capture_describes_this_interpreter():
    snap = environment.capture(None)
    assert snap["format"] == 1
    assert snap["python"] == {
        "implementation": platform.python_implementation(),
        "version": platform.python_version(),
    }
    assert snap["platform"]["system"] == platform.system()
    assert snap["platform"]["machine"] == platform.machine()
    assert snap["distributions"]["pyyaml"] == metadata.version("PyYAML")
    assert snap["distributions"]["pygit2"] == metadata.version("pygit2")
    assert "files" not in snap


def test_yaml_is_sorted_and_round_trips(tmp_path):
    (tmp_path / "requirements.txt").write_text("numpy==1.26.4\n")
    snap = environment.capture(tmp_path)
    text = environment.to_yaml(snap).decode()
    top = [line.split(":")[0] for line in text.splitlines() if line and not line[0].isspace()]
    assert top == sorted(top)
    dist_lines = text.split("distributions:\n")[1].split("\n")
    names = []
    for line in dist_lines:
        if not line.startswith("  "):
            break
        names.append(line.strip().split(":")[0])
    assert names == sorted(names) and len(names) > 10
    assert environment.from_yaml(text) == snap
    # the same environment gives the same bytes
    assert environment.to_yaml(environment.capture(tmp_path)) == text.encode()
    assert environment.capture_yaml(tmp_path) == text.encode()


def test_lock_and_requirements_files_are_hashed(tmp_path):
    files = {
        "requirements.txt": "numpy==1.26.4\n",
        "requirements-dev.txt": "pytest\n",
        "uv.lock": "version = 1\n",
        "poetry.lock": "# poetry\n",
        "environment.yml": "name: x\n",
        "README.md": "not a lock file\n",
        "pyproject.toml": (
            '[project]\nname = "demo"\nrequires-python = ">=3.10"\n'
            'dependencies = ["torch>=2", "numpy"]\n'
            '[project.optional-dependencies]\ntest = ["pytest"]\n'
        ),
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "requirements").mkdir()
    (tmp_path / "requirements" / "gpu.txt").write_text("jax[cuda12]\n")
    snap = environment.capture(tmp_path)
    assert sorted(snap["files"]) == [
        "environment.yml",
        "poetry.lock",
        "pyproject.toml",
        "requirements-dev.txt",
        "requirements.txt",
        "requirements/gpu.txt",
        "uv.lock",
    ]
    req = snap["files"]["requirements.txt"]
    assert req == {
        "sha256": hashlib.sha256(b"numpy==1.26.4\n").hexdigest(),
        "size": len(b"numpy==1.26.4\n"),
    }
    pyproject = snap["files"]["pyproject.toml"]
    assert pyproject["dependencies"] == ["torch>=2", "numpy"]
    assert pyproject["optional-dependencies"] == {"test": ["pytest"]}
    assert pyproject["requires-python"] == ">=3.10"

    # a changed file is seen by the next capture (the cache is keyed by size/mtime)
    (tmp_path / "requirements.txt").write_text("numpy==2.0.0\n")
    again = environment.capture(tmp_path)
    assert (
        again["files"]["requirements.txt"]["sha256"]
        == hashlib.sha256(b"numpy==2.0.0\n").hexdigest()
    )
    changes = environment.diff(snap, again)
    assert [(c.key, c.kind) for c in changes] == [
        ("files/requirements.txt/sha256", "changed"),
        ("files/requirements.txt/size", "changed"),
    ]


def test_bad_pyproject_is_reported_and_still_hashed(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[project\nname=")
    snap = environment.capture(tmp_path)
    assert snap["files"]["pyproject.toml"]["size"] == len("[project\nname=")
    assert any(p.startswith("pyproject.toml: not valid TOML") for p in snap["problems"])


def test_malformed_metadata_is_reported_and_skipped(tmp_path):
    site = tmp_path / "site"
    make_dist(site, "GoodPkg", "2.0")
    make_dist(site, "broken", None)
    (site / "empty-1.0.dist-info").mkdir()
    # a distutils-era .egg-info *file* (as Debian ships) is fine
    (site / "legacy-1.2.egg-info").write_text("Metadata-Version: 1.1\nName: legacy\nVersion: 1.2\n")
    out = run_cli("env", "--format", "json", env=with_path(site), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    snap = json.loads(out.stdout)
    assert snap["distributions"]["goodpkg"] == "2.0"
    assert snap["distributions"]["legacy"] == "1.2"
    assert "broken" not in snap["distributions"]
    assert "warning: skipped distribution broken-0.dist-info: metadata has no valid Version" in (
        out.stderr
    )
    assert "skipped distribution empty-1.0.dist-info: no METADATA or PKG-INFO file" in out.stderr
    assert len(snap["problems"]) == 2


def test_torch_and_cuda_versions_without_importing_torch(tmp_path):
    site = tmp_path / "site"
    make_dist(site, "torch", "2.3.1+cu121")
    pkg = site / "torch"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("raise RuntimeError('torch was imported')\n")
    (pkg / "version.py").write_text(
        "from typing import Optional\n__version__ = '2.3.1+cu121'\n"
        "cuda: Optional[str] = '12.1'\nhip: Optional[str] = None\n"
    )
    make_dist(site, "jax", "0.4.30")
    make_dist(site, "nvidia_cuda_runtime_cu12", "12.1.105")
    code = (
        "import json, sys; from gittrack.env import environment as e; "
        "s = e.capture(None); print(json.dumps([s['accelerators'], 'torch' in sys.modules]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **with_path(site)},
        capture_output=True,
        text=True,
        check=True,
    )
    acc, imported = json.loads(out.stdout)
    assert imported is False
    assert acc["torch"] == "2.3.1+cu121"
    assert acc["torch_cuda"] == "12.1"
    assert acc["jax"] == "0.4.30"
    assert acc["cuda_packages"] == {"nvidia-cuda-runtime-cu12": "12.1.105"}
    assert "torch_hip" not in acc


def test_capture_of_another_interpreter(tmp_path):
    """A hook running in its own virtualenv describes the project's interpreter."""
    target = tmp_path / "venv"
    venv.create(target, with_pip=False)
    python = target / "bin" / "python"
    site = next((target / "lib").glob("python*/site-packages"))
    make_dist(site, "onlyinvenv", "0.1")
    (tmp_path / "requirements.txt").write_text("x\n")
    snap = environment.capture(tmp_path, python=str(python))
    assert snap["distributions"]["onlyinvenv"] == "0.1"
    assert "pygit2" not in snap["distributions"]  # this interpreter's packages are not there
    assert snap["python"]["version"] == platform.python_version()
    assert snap["files"]["requirements.txt"]["size"] == 2
    here = environment.capture(tmp_path)
    kinds = {c.key: c.kind for c in environment.diff(here, snap)}
    assert kinds["distributions/onlyinvenv"] == "added"
    assert kinds["distributions/pygit2"] == "removed"


def test_unknown_interpreter_is_a_clear_error(tmp_path):
    with pytest.raises(EnvironmentCaptureError, match="no-such-python"):
        environment.capture(tmp_path, python="/no/such/dir/no-such-python")
    out = run_cli("env", "--python", "/no/such/dir/no-such-python", cwd=tmp_path)
    assert out.returncode == 1
    assert "Error: Python interpreter '/no/such/dir/no-such-python' not found" in out.stderr


def test_diff_lists_added_removed_changed():
    a = {"python": {"version": "3.11.7"}, "distributions": {"numpy": "1.26.4", "six": "1.16"}}
    b = {"python": {"version": "3.12.1"}, "distributions": {"numpy": "2.0.0", "torch": "2.3"}}
    changes = environment.diff(a, b)
    assert [str(c) for c in changes] == [
        "~ distributions/numpy: 1.26.4 -> 2.0.0",
        "- distributions/six: 1.16",
        "+ distributions/torch: 2.3",
        "~ python/version: 3.11.7 -> 3.12.1",
    ]
    assert changes[0].to_dict() == {
        "key": "distributions/numpy",
        "change": "changed",
        "old": "1.26.4",
        "new": "2.0.0",
    }
    assert environment.diff(a, a) == []
    assert [c.key for c in environment.diff(None, {"files": {"uv.lock": {"size": 1}}})] == [
        "files/uv.lock/size"
    ]


def _start_run(cwd: Path, env: dict | None = None) -> str:
    code = (
        "import gittrack\n"
        "with gittrack.start_run() as r:\n"
        "    gittrack.log_param('a', 1)\n"
        "print(r.info.run_id)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


def test_runs_record_their_environment_and_env_diff_shows_changes(repo, tmp_path):
    (repo / "requirements.txt").write_text("numpy==1.26.4\n")
    first = _start_run(repo)
    shown = run_cli("env", "show", first[:8])
    assert shown.returncode == 0, shown.stderr
    recorded = environment.from_yaml(shown.stdout)
    assert recorded["distributions"]["pyyaml"] == metadata.version("PyYAML")
    assert recorded["files"]["requirements.txt"]["size"] == 14

    site = tmp_path / "site"
    make_dist(site, "extra-pkg", "1.0")
    (repo / "requirements.txt").write_text("numpy==1.26.5\n")
    second = _start_run(repo, env=with_path(site))

    out = run_cli("env", "diff", first, second)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["KEY", "CHANGE", "OLD", "NEW"]
    assert lines[1].split() == ["distributions/extra-pkg", "added", "-", "1.0"]
    assert lines[2].split()[:2] == ["files/requirements.txt/sha256", "changed"]
    assert len(lines) == 3

    as_json = json.loads(run_cli("env", "diff", first, second, "--format", "json").stdout)
    assert as_json[0] == {"key": "distributions/extra-pkg", "change": "added", "old": None,
                          "new": "1.0"}  # fmt: skip

    same = run_cli("env", "diff", first, first)
    assert same.stdout.strip() == f"No differences between run {first} and run {first}."

    # one run: against the environment of this process (same interpreter, files as now)
    now = run_cli("env", "diff", second)
    assert now.returncode == 0, now.stderr
    assert [line.split() for line in now.stdout.splitlines()[1:]] == [
        ["distributions/extra-pkg", "removed", "1.0", "-"]
    ]


def test_env_diff_errors_name_the_run(repo):
    out = run_cli("env", "diff", "deadbeef", "cafebabe")
    assert out.returncode == 1
    assert "Run 'deadbeef' not found" in out.stderr
    code = (
        "from gittrack.api.client import Client\nc = Client()\n"
        "r = c.create_run('0', snapshot=False)\nc.set_terminated(r.info.run_id)\n"
        "print(r.info.run_id)\n"
    )
    run_id = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    out = run_cli("env", "show", run_id)
    assert out.returncode == 1
    assert f"Run {run_id} recorded no environment" in out.stderr


def test_to_yaml_never_returns_a_stale_dump():
    snap = environment.capture(None)
    first = environment.to_yaml(snap)
    snap["distributions"]["made-up"] = "1.0"
    second = environment.to_yaml(snap)
    assert b"  made-up: '1.0'\n" in second and b"made-up" not in first
    del snap["distributions"]["made-up"]
    assert environment.to_yaml(snap) == first


def test_summary_line():
    snap = {
        "python": {"implementation": "CPython", "version": "3.11.7"},
        "platform": {"system": "Linux", "machine": "x86_64"},
        "distributions": {"numpy": "1.26.4", "torch": "2.3.1"},
        "accelerators": {"torch": "2.3.1", "torch_cuda": "12.1", "nvidia_driver": "550.54"},
    }
    assert environment.summary(snap) == (
        "CPython 3.11.7, Linux x86_64, 2 packages, torch 2.3.1 (CUDA 12.1), NVIDIA driver 550.54"
    )


def test_env_diff_against_the_source_commits_lock_file(repo, tmp_path):
    before = _start_run(repo)
    out = run_cli("env", "diff", before, "--source")
    assert out.returncode == 1
    assert "has no environment lock file (install the hooks: gittrack hooks install)" in out.stderr

    assert run_cli("hooks", "install", "--hook", "pre-commit").returncode == 0
    (repo / "train.py").write_text("print('v2')\n")
    subprocess.run(["git", "commit", "-qam", "v2"], check=True, capture_output=True)
    same = _start_run(repo)
    out = run_cli("env", "diff", same, "--source")
    assert out.stdout.strip() == f"No differences between run {same} and its source commit."

    site = tmp_path / "site"
    make_dist(site, "extra-pkg", "1.0")
    other = _start_run(repo, env=with_path(site))
    out = run_cli("env", "diff", other[:10], "--source", "--format", "csv")
    assert out.stdout.splitlines() == ["key,change,old,new", "distributions/extra-pkg,added,,1.0"]


_LISTINGS_SCRIPT = """
import hashlib, json, os, sys
from gittrack.api.client import Client
from gittrack.env import environment

workdir = os.path.realpath(".")
listings = [0]


def edit_on_second_listing(event, args):
    # a user saving requirements.txt while runs start: the edit lands at the moment
    # the project folder is listed for the second time in this process
    if event == "os.scandir" and args and str(args[0]) == workdir:
        listings[0] += 1
        if listings[0] == 2:
            with open("requirements.txt", "w") as fh:
                fh.write("numpy==2.0.0\\nscipy==1.13.0\\n")


sys.addaudithook(edit_on_second_listing)
client = Client()
runs = []
for _ in range(2):
    before = listings[0]
    run = client.create_run("0")
    client.set_terminated(run.info.run_id)
    runs.append({"run_id": run.info.run_id, "listings": listings[0] - before})
with open("requirements.txt", "rb") as fh:
    now = hashlib.sha256(fh.read()).hexdigest()
environment.clear_cache()
print(json.dumps({"runs": runs, "sha256_now": now, "fresh": environment.capture(workdir)}))
"""


def test_a_run_lists_the_project_once_and_records_its_lock_files_as_they_are(repo):
    """Each run lists the project folder once for its environment; a requirements file
    edited while runs start is recorded as that run found it. (Listed twice, an edit
    between the two listings cached the older files under the newer signature, and the
    next run recorded the older requirements.)"""
    (repo / "requirements.txt").write_text("numpy==1.26.4\n")
    out = subprocess.run(
        [sys.executable, "-c", _LISTINGS_SCRIPT], cwd=repo, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    first, second = got["runs"]
    assert [first["listings"], second["listings"]] == [1, 1]
    recorded = environment.run_environment(environment_repo(repo), second["run_id"])
    assert recorded is not None
    assert recorded["files"]["requirements.txt"]["sha256"] == got["sha256_now"]
    assert recorded == got["fresh"]  # the whole recorded environment, as captured afresh
    older = environment.run_environment(environment_repo(repo), first["run_id"])
    assert older is not None
    assert older["files"]["requirements.txt"]["size"] == len("numpy==1.26.4\n")


def environment_repo(path: Path):
    from gittrack.core.repo import Repo

    return Repo(str(path))
