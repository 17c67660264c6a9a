"""Which artifact store a repository uses, and how transfers are tuned.

The store URL is looked up in this order (first found wins):

1. the environment variable ``GITTRACK_ARTIFACTS``;
2. git config ``gittrack.artifacts`` (per clone);
3. ``artifacts:`` in ``.gittrack.yaml`` at the top of the working tree (committed,
   so every clone finds the same store; read from ``HEAD`` in a bare repository);
4. the local cache ``.git/gittrack/objects``.

Any fsspec URL works (``file://``, ``s3://``, ``gs://``, ``az://``, ``memory://``);
a plain path is a local folder, relative to the top of the working tree. Backend
options such as ``endpoint_url`` come from ``artifacts: {url: ..., options: {...}}``
in ``.gittrack.yaml`` or from git config ``gittrack.artifacts.<option>`` (dashes
become underscores: ``gittrack.artifacts.endpoint-url``). Credentials are never
read from ``.gittrack.yaml``: they come from each backend's usual places.

Tuning (git config ``gittrack.artifacts.<name>`` or the same key in the YAML
mapping): ``inline-limit`` (bytes, default 1 MiB), ``parallel`` (default 4),
``retries`` (default 4), ``retry-backoff`` (seconds, default 0.5),
``chunk-size`` (default 8 MiB), ``cache`` (default true).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gittrack import layout
from gittrack.errors import ArtifactStoreError

if TYPE_CHECKING:
    from gittrack.core.repo import Repo

PROJECT_FILE = layout.PROJECT_FILE
ENV_URL = "GITTRACK_ARTIFACTS"
MiB = 1024 * 1024

TUNING: dict[str, tuple[type, Any]] = {
    "inline-limit": (int, MiB),
    "parallel": (int, 4),
    "retries": (int, 4),
    "retry-backoff": (float, 0.5),
    "chunk-size": (int, 8 * MiB),
    "cache": (bool, True),
}
_SECRET_WORDS = ("key", "secret", "token", "password", "passwd", "credential")


@dataclass
class StoreConfig:
    """A resolved store: its fsspec URL, backend options, and transfer tuning."""

    url: str
    options: dict[str, Any] = field(default_factory=dict)
    source: str = "default"
    inline_limit: int = MiB
    parallel: int = 4
    retries: int = 4
    retry_backoff: float = 0.5
    chunk_size: int = 8 * MiB
    cache: bool = True

    @property
    def protocol(self) -> str:
        return url_protocol(self.url)

    @property
    def is_local(self) -> bool:
        return self.protocol in ("file", "local")


def url_protocol(url: str) -> str:
    """``'s3'`` for ``s3://b/p``, ``'file'`` for a plain path."""
    if "://" in url:
        return url.split("://", 1)[0].lower()
    return "file"


def default_store_path(repo: Repo) -> Path:
    """The local cache / default store: ``<common git dir>/gittrack/objects``."""
    return layout.objects_dir(repo.state_dir)


def _parse_bool(raw: Any, name: str) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ArtifactStoreError(f"artifact setting {name}={raw!r} is not a boolean")


def _parse_tuning(name: str, raw: Any, where: str) -> Any:
    kind, _ = TUNING[name]
    if kind is bool:
        return _parse_bool(raw, name)
    try:
        value = kind(raw)
    except (TypeError, ValueError) as exc:
        what = "an integer" if kind is int else "a number"
        raise ArtifactStoreError(f"{where}: {name}={raw!r} is not {what}") from exc
    if value < 0 or (name in ("parallel", "chunk-size") and value < 1):
        raise ArtifactStoreError(f"{where}: {name}={raw!r} is out of range")
    return value


def read_project_file(repo: Repo) -> dict[str, Any]:
    """``.gittrack.yaml`` from the working tree, else from ``HEAD``; ``{}`` when absent.

    Raises:
        ArtifactStoreError: when the file is not a YAML mapping.
    """
    from gittrack.core.records.formats import load_yaml

    data: bytes | None = None
    wd = repo.workdir
    if wd is not None and (wd / PROJECT_FILE).is_file():
        data = (wd / PROJECT_FILE).read_bytes()
    else:
        import pygit2

        try:
            tree = repo.git.head.peel().tree
            entry = tree[PROJECT_FILE]
            data = entry.peel(pygit2.Blob).data
        except Exception:  # unborn HEAD, no such file
            data = None
    if data is None:
        return {}
    try:
        parsed = load_yaml(data)
    except Exception as exc:
        raise ArtifactStoreError(f"{PROJECT_FILE} is not valid YAML: {exc}") from exc
    if parsed is None:
        return {}
    if not isinstance(parsed, dict):
        raise ArtifactStoreError(f"{PROJECT_FILE} must be a mapping, got {type(parsed).__name__}")
    return parsed


def _git_config_section(repo: Repo) -> dict[str, str]:
    """Every ``gittrack.artifacts.<name>`` git config variable, by ``<name>``."""
    prefix = "gittrack.artifacts."
    found: dict[str, str] = {}
    try:
        for entry in repo.git.config:
            name = entry.name
            if name.lower().startswith(prefix):
                # a key with no value is git's shorthand for true
                found[name[len(prefix) :].lower()] = "true" if entry.value is None else entry.value
    except Exception:  # unreadable config: treat as empty
        return {}
    return found


def _check_no_secrets(options: dict[str, Any]) -> None:
    for name in options:
        low = name.lower()
        if any(low == w or low.endswith("_" + w) for w in _SECRET_WORDS):
            raise ArtifactStoreError(
                f"{PROJECT_FILE} sets the store option {name!r}, which looks like a credential. "
                f"{PROJECT_FILE} is committed: keep credentials in the backend's usual places "
                "(environment variables, ~/.aws/credentials, ...) instead."
            )


def _absolutize(url: str, repo: Repo) -> str:
    if "://" in url:
        return url
    path = Path(os.path.expanduser(url))
    if not path.is_absolute():
        base = repo.workdir or repo.common_dir
        path = (base / path).resolve()
    return str(path)


def resolve_store_config(repo: Repo) -> StoreConfig:
    """The store this repository's artifacts go to.

    Raises:
        ArtifactStoreError: for a malformed ``.gittrack.yaml`` or a bad tuning value.
    """
    project = read_project_file(repo)
    section = project.get("artifacts")
    yaml_url: str | None = None
    yaml_options: dict[str, Any] = {}
    yaml_tuning: dict[str, Any] = {}
    if isinstance(section, str):
        yaml_url = section
    elif isinstance(section, dict):
        yaml_url = section.get("url")
        opts = section.get("options") or {}
        if not isinstance(opts, dict):
            raise ArtifactStoreError(f"{PROJECT_FILE}: artifacts.options must be a mapping")
        _check_no_secrets(opts)
        yaml_options = dict(opts)
        for k, v in section.items():
            key = str(k).replace("_", "-")
            if key in TUNING:
                yaml_tuning[key] = _parse_tuning(key, v, PROJECT_FILE)
    elif section is not None:
        raise ArtifactStoreError(f"{PROJECT_FILE}: artifacts must be a URL or a mapping")
    if yaml_url is not None and not isinstance(yaml_url, str):
        raise ArtifactStoreError(f"{PROJECT_FILE}: artifacts.url must be a string")

    git_section = _git_config_section(repo)
    git_options = {k.replace("-", "_"): v for k, v in git_section.items() if k not in TUNING}
    git_tuning = {
        k: _parse_tuning(k, v, f"git config gittrack.artifacts.{k}")
        for k, v in git_section.items()
        if k in TUNING
    }

    env_url = os.environ.get(ENV_URL)
    git_url = repo.config("gittrack.artifacts")
    options: dict[str, Any] = {}
    if env_url:
        url, source = env_url, f"environment {ENV_URL}"
    elif git_url:
        url, source = git_url, "git config gittrack.artifacts"
    elif yaml_url:
        url, source, options = yaml_url, PROJECT_FILE, yaml_options
    else:
        url, source = str(default_store_path(repo)), "default"
    options.update(git_options)

    tuning = {k: default for k, (_, default) in TUNING.items()}
    tuning.update(yaml_tuning)
    tuning.update(git_tuning)
    return StoreConfig(
        url=_absolutize(url, repo),
        options=options,
        source=source,
        inline_limit=tuning["inline-limit"],
        parallel=tuning["parallel"],
        retries=tuning["retries"],
        retry_backoff=tuning["retry-backoff"],
        chunk_size=tuning["chunk-size"],
        cache=tuning["cache"],
    )
