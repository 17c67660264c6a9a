"""``gittrack hooks install`` / ``uninstall``: wrapper scripts that chain with existing hooks.

Installing hook ``NAME`` writes a small POSIX shell script to
``<hooks dir>/NAME`` (the directory git runs hooks from, so ``core.hooksPath``
is respected). A hook that is already there and is not gittrack's is renamed to
``NAME.gittrack-orig`` — kept byte for byte, whatever its language — and the
wrapper runs it first, with the same arguments and standard input; its exit
status is the hook's exit status. Then the wrapper runs
``python -m gittrack.hooks NAME``, whose failures are reported and never stop
the commit or push. Uninstalling puts the original back by renaming it.

Installing again only rewrites gittrack's wrapper (say, for another Python),
so it is idempotent.
"""

from __future__ import annotations

import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from gittrack.errors import HookError
from gittrack.hooks import HOOK_NAMES
from gittrack.hooks._git import config, git, git_path

MARKER = "# gittrack-hook v1"
MERGE_DRIVER = "gittrack-env"
_ATTR_COMMENT = (
    "# gittrack: merges keep the current environment lock (gittrack hooks uninstall removes this)"
)
ORIG_SUFFIX = ".gittrack-orig"
# hooks that git feeds on standard input: the original and gittrack both need it
_STDIN_HOOKS = {"pre-push", "post-rewrite", "pre-receive", "post-receive", "reference-transaction"}
# hooks whose exit status git ignores: run gittrack's part even when the original failed
_POST_HOOKS = {"post-commit", "post-checkout", "post-merge", "post-rewrite"}

_TEMPLATE = """#!/bin/sh
{marker} — installed by `gittrack hooks install`; `gittrack hooks uninstall` removes it.
# A hook that was here before is kept next to this file as "{name}{suffix}"
# and runs first; its exit status is this hook's exit status.
hook={name}
python={python}
here=$(dirname -- "$0")
orig="$here/$hook{suffix}"
status=0
{body}
{precheck}if [ -x "$python" ]; then
    {pythonpath}{sigenv}"$python" -m gittrack.hooks "$hook" "$@" <"$input" ||
        echo "gittrack: the $hook hook failed (exit $?); see the message above. Git goes on." >&2
else
    echo "gittrack: $python is gone; run \\`gittrack hooks install\\` again. Git goes on." >&2
fi
exit $status
"""

_BODY_PLAIN = """input=/dev/null
if [ -x "$orig" ]; then
    "$orig" "$@"
    status=$?
    {stop}
fi"""

# post-commit: without a run named in the environment, a run can only be live in an
# ancestor of this hook holding its run lock; when /proc/locks shows no flock held by
# any ancestor, there is nothing to note and no Python needs to start (shell builtins
# only: this runs after every commit).
_POST_COMMIT_PRECHECK = """if [ -z "${GITTRACK_RUN_ID}${MLFLOW_RUN_ID}" ] && [ -r /proc/locks ] && [ -r /proc/$$/status ]; then
    ancestors=" "
    pid=$PPID
    depth=0
    while [ "${pid:-0}" -gt 1 ] && [ "$depth" -lt 64 ] && [ -r "/proc/$pid/status" ]; do
        ancestors="$ancestors$pid "
        depth=$((depth + 1))
        ppid=0
        while read -r key value; do
            if [ "$key" = "PPid:" ]; then ppid=$value; break; fi
        done <"/proc/$pid/status"
        pid=$ppid
    done
    live=
    while read -r _n kind _adv _mode holder _rest; do
        [ "$kind" = FLOCK ] || continue
        case "$ancestors" in *" $holder "*) live=1; break ;; esac
    done </proc/locks
    [ -n "$live" ] || exit $status
fi
"""

# pre-commit: when nothing the environment snapshot depends on changed since Python last
# found it current and staged, no Python needs to start. Python lists the files to watch
# (gittrack.hooks.actions.stamp_current); this signature of them — `stat` (size, mtime,
# ctime, inode), the kernel and driver versions, the lock file's index entry and the
# variables that steer Python's path or git's config — is compared with the stamp Python
# left. GNU stat, /proc and a plain index only (else Python decides, as before).
_PRE_COMMIT_PRECHECK = """sig=
gittrack_sig() {{
    watch=$1
    set --
    {{ IFS= read -r rel && while IFS= read -r p; do set -- "$@" "$p"; done; }} <"$watch" || return 1
    [ -n "$rel" ] && [ "$#" -gt 0 ] || return 1
    printf '%s\\n' "$python|$PWD|${{PYTHONPATH-}}|${{PYTHONHOME-}}|${{PYTHONNOUSERSITE-}}|${{PYTHONUSERBASE-}}|${{PYTHONSAFEPATH-}}|${{PYTHONPLATLIBDIR-}}|${{VIRTUAL_ENV-}}|${{CUDA_HOME-}}|${{CUDA_PATH-}}|${{HOME-}}|${{XDG_CONFIG_HOME-}}|${{GIT_CONFIG_GLOBAL-}}|${{GIT_CONFIG_SYSTEM-}}|${{GIT_CONFIG_NOSYSTEM-}}|${{GIT_CONFIG_PARAMETERS-}}|${{GIT_DIR-}}|${{GIT_WORK_TREE-}}"
    stamps=$(stat -L -c '%n %s %y %z %i' -- "$@" 2>/dev/null)
    [ -n "$stamps" ] || return 1
    printf '%s\\n' "$stamps"
    cat /proc/sys/kernel/osrelease /proc/sys/kernel/version /proc/sys/kernel/hostname \\
        /proc/driver/nvidia/version 2>/dev/null
    git ls-files -s -- "$rel"
}}
case "${{GIT_INDEX_FILE##*/}}" in
next-index*) ;;
*)
    if [ -z "${{GIT_CONFIG_COUNT-}}" ] && [ -r /proc/sys/kernel/osrelease ] &&
        common=$(git rev-parse --git-common-dir 2>/dev/null) && [ -r "$common/{watch}" ]; then
        sig=$(gittrack_sig "$common/{watch}") || sig=
        if [ -n "$sig" ] && [ -r "$common/{stamp}" ] && [ "$sig" = "$(cat "$common/{stamp}")" ]; then
            exit $status
        fi
    fi
    ;;
esac
"""

_BODY_STDIN = """input=$(mktemp "${{TMPDIR:-/tmp}}/gittrack-$hook.XXXXXX") || exit 1
trap 'rm -f "$input"' EXIT
cat >"$input"
if [ -x "$orig" ]; then
    "$orig" "$@" <"$input"
    status=$?
    {stop}
fi"""


@dataclass(frozen=True)
class HookResult:
    """What install/uninstall did to one hook: ``action`` is one of ``installed``,
    ``chained`` (an existing hook kept and called first), ``updated``, ``unchanged``,
    ``removed``, ``restored`` (the original put back) or ``absent``."""

    name: str
    path: Path
    action: str

    def __str__(self) -> str:
        return f"{self.name}: {self.action} ({self.path})"


def hooks_dir(cwd: str | os.PathLike[str] | None = None) -> Path:
    """The directory git runs this repository's hooks from (``core.hooksPath`` honoured).

    Raises:
        HookError: when ``cwd`` is not in a git repository.
    """
    return git_path("hooks", cwd=cwd)


def _sh_quote(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"


def render(name: str, python: str | None = None) -> str:
    """The wrapper script for hook ``name`` running gittrack with ``python``."""
    stop = "" if name in _POST_HOOKS else '[ "$status" -eq 0 ] || exit "$status"'
    body = (_BODY_STDIN if name in _STDIN_HOOKS else _BODY_PLAIN).format(stop=stop)
    # drop the blank line an empty {stop} leaves behind
    body = "\n".join(line for line in body.splitlines() if line.strip())
    return _TEMPLATE.format(
        marker=MARKER,
        name=name,
        suffix=ORIG_SUFFIX,
        python=_sh_quote(python or sys.executable),
        pythonpath=_pythonpath_line(),
        body=body,
        precheck=_precheck(name),
        sigenv='GITTRACK_HOOK_SIG="$sig" ' if name == "pre-commit" else "",
    )


def _precheck(name: str) -> str:
    """The shell-only check that may end hook ``name`` before Python starts."""
    if name == "post-commit":
        return _POST_COMMIT_PRECHECK
    if name != "pre-commit":
        return ""
    from gittrack import layout

    common = Path("/common")
    state = layout.state_dir(common)
    return _PRE_COMMIT_PRECHECK.format(
        watch=layout.env_snapshot_watch_path(state).relative_to(common).as_posix(),
        stamp=layout.env_snapshot_stamp_path(state).relative_to(common).as_posix(),
    )


def _pythonpath_root() -> str:
    """The source checkout gittrack runs from, when it is not installed, else ``""``."""
    import site

    import gittrack

    root = os.path.dirname(os.path.dirname(os.path.abspath(gittrack.__file__)))
    try:
        site_dirs = [*site.getsitepackages(), site.getusersitepackages()]
    except AttributeError:  # some embedded/virtualenv builds lack getsitepackages
        site_dirs = []
    if any(os.path.abspath(d) == root for d in site_dirs):
        return ""
    return root


def _pythonpath_line() -> str:
    """When gittrack runs from a source checkout (not installed), the wrapper must
    find it too: add the checkout to PYTHONPATH for the hook."""
    root = _pythonpath_root()
    if not root:
        return ""
    return f'PYTHONPATH={_sh_quote(root)}"${{PYTHONPATH:+:$PYTHONPATH}}" '


def is_gittrack_hook(path: Path) -> bool:
    """True when ``path`` is a wrapper written by :func:`install`."""
    try:
        if path.is_symlink() or not path.is_file():
            return False
        with open(path, "rb") as fh:
            head = fh.read(512)
    except OSError:
        return False
    return MARKER.encode() in head


def _parse_names(hooks: list[str] | tuple[str, ...] | str | None) -> list[str]:
    if hooks is None:
        return list(HOOK_NAMES)
    if isinstance(hooks, str):
        hooks = [hooks]
    names: list[str] = []
    for item in hooks:
        for name in item.split(","):
            name = name.strip()
            if not name:
                continue
            if name not in HOOK_NAMES:
                raise HookError(f"Unknown hook {name!r}: gittrack provides {', '.join(HOOK_NAMES)}")
            if name not in names:
                names.append(name)
    if not names:
        raise HookError(f"No hook named: choose from {', '.join(HOOK_NAMES)}")
    return names


def _check_python(python: str) -> str:
    """The absolute path of ``python`` if it can run gittrack's hooks.

    Raises:
        HookError: not found, not executable, or gittrack not importable there.
    """
    import shutil
    import subprocess

    found = shutil.which(python)
    if found is None:
        raise HookError(f"Python interpreter {python!r} not found (or not executable)")
    found = os.path.abspath(found)
    env = dict(os.environ)
    extra = _pythonpath_root()
    if extra:
        env["PYTHONPATH"] = extra + (
            os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""
        )
    try:
        proc = subprocess.run(
            [found, "-c", "import gittrack.hooks.actions, pygit2, yaml"],
            env=env,
            capture_output=True,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise HookError(f"Cannot run {found}: {exc}") from exc
    if proc.returncode != 0:
        raise HookError(
            f"{found} cannot run gittrack's hooks ({_last_line(proc.stderr)}): install "
            "gittrack into that environment first"
        )
    return found


def _last_line(data: bytes) -> str:
    lines = data.decode("utf-8", "replace").strip().splitlines()
    return lines[-1] if lines else "no message"


def _check_writable(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HookError(
            f"Cannot create the hooks directory {directory}: {exc.strerror or exc}"
        ) from exc
    mode = directory.stat().st_mode
    # root may write anywhere, but a directory without write bits was made read-only on purpose
    if not os.access(directory, os.W_OK) or not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        raise HookError(
            f"The hooks directory {directory} is read-only (mode {stat.S_IMODE(mode):04o}); "
            f"make it writable (chmod u+w {directory}) or point core.hooksPath at a "
            "writable directory, then install again. Nothing was changed."
        )


def _write_script(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.gittrack-tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.chmod(tmp, 0o755)
        os.replace(tmp, path)
    except OSError as exc:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise HookError(f"Cannot write hook {path}: {exc.strerror or exc}") from exc


def install(
    hooks: list[str] | tuple[str, ...] | str | None = None,
    cwd: str | os.PathLike[str] | None = None,
    python: str | None = None,
) -> list[HookResult]:
    """Install gittrack's hooks (default: all of ``pre-commit``, ``post-commit``,
    ``pre-push``) into the hooks directory of the repository at ``cwd``.

    Returns:
        One :class:`HookResult` per hook.

    Raises:
        HookError: unknown hook name, read-only hooks directory, or an existing
            ``NAME.gittrack-orig`` next to a hook that is not gittrack's (nothing
            is overwritten; the message says which file to move).
    """
    names = _parse_names(hooks)
    if python is not None:
        python = _check_python(python)
    directory = hooks_dir(cwd)
    _check_writable(directory)
    results = []
    for name in names:
        path = directory / name
        orig = directory / (name + ORIG_SUFFIX)
        text = render(name, python)
        exists = path.exists() or path.is_symlink()
        if exists and is_gittrack_hook(path):
            if path.read_text(encoding="utf-8") == text:
                results.append(HookResult(name, path, "unchanged"))
            else:
                _write_script(path, text)
                results.append(HookResult(name, path, "updated"))
            continue
        if exists:
            if path.is_dir():
                raise HookError(f"{path} is a directory, not a hook; move it away first")
            if orig.exists() or orig.is_symlink():
                raise HookError(
                    f"Cannot chain {path}: {orig} already exists and {path} is not gittrack's "
                    "wrapper. Move one of them away (they are kept as they are), then install again."
                )
            try:
                os.rename(path, orig)
            except OSError as exc:
                raise HookError(f"Cannot move {path} aside: {exc.strerror or exc}") from exc
            try:
                _write_script(path, text)
            except HookError:
                os.rename(orig, path)  # put the user's hook back as it was
                raise
            results.append(HookResult(name, path, "chained"))
        else:
            _write_script(path, text)
            results.append(HookResult(name, path, "installed"))
    if "pre-commit" in names:
        _install_merge_driver(cwd)
    return results


def _lock_patterns(cwd: str | os.PathLike[str] | None) -> list[str]:
    from gittrack.hooks.actions import DEFAULT_LOCK_PATH

    paths = [DEFAULT_LOCK_PATH]
    configured = config("gittrack.env-lock-path", cwd=cwd)
    if configured and configured.strip() and configured.strip() not in paths:
        paths.append(configured.strip())
    return ["/" + p.lstrip("/") for p in paths if " " not in p and "#" not in p]


def _install_merge_driver(cwd: str | os.PathLike[str] | None) -> None:
    """Let merges and rebases keep the current side of the lock file instead of
    stopping on a conflict: the next commit writes a fresh snapshot anyway."""
    git(
        "config",
        f"merge.{MERGE_DRIVER}.name",
        "gittrack: keep the current environment lock",
        cwd=cwd,
    )
    git("config", f"merge.{MERGE_DRIVER}.driver", "true", cwd=cwd)
    attributes = git_path("info/attributes", cwd=cwd)
    lines = _read_lines(attributes)
    kept = _without_ours(lines)
    ours = [_ATTR_COMMENT] + [f"{p} merge={MERGE_DRIVER}" for p in _lock_patterns(cwd)]
    if kept + ours != lines:
        _write_lines(attributes, kept + ours)


def _uninstall_merge_driver(cwd: str | os.PathLike[str] | None) -> None:
    attributes = git_path("info/attributes", cwd=cwd)
    lines = _read_lines(attributes)
    kept = _without_ours(lines)
    if kept != lines:
        if kept:
            _write_lines(attributes, kept)
        else:
            attributes.unlink()
    if config(f"merge.{MERGE_DRIVER}.driver", cwd=cwd) is not None:
        git("config", "--remove-section", f"merge.{MERGE_DRIVER}", cwd=cwd)


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise HookError(f"Cannot read {path}: {exc.strerror or exc}") from exc


def _write_lines(path: Path, lines: list[str]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    except OSError as exc:
        raise HookError(f"Cannot write {path}: {exc.strerror or exc}") from exc


def _without_ours(lines: list[str]) -> list[str]:
    return [
        line
        for line in lines
        if line != _ATTR_COMMENT and not line.endswith(f" merge={MERGE_DRIVER}")
    ]


def uninstall(
    hooks: list[str] | tuple[str, ...] | str | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> list[HookResult]:
    """Remove gittrack's wrappers and put back the hooks they chained, byte for byte.

    A hook that is not gittrack's wrapper is left alone (``absent``).

    Raises:
        HookError: unknown hook name, or the hooks directory cannot be written.
    """
    names = _parse_names(hooks)
    directory = hooks_dir(cwd)
    results = []
    for name in names:
        path = directory / name
        orig = directory / (name + ORIG_SUFFIX)
        if not is_gittrack_hook(path):
            results.append(HookResult(name, path, "absent"))
            continue
        _check_writable(directory)
        try:
            if orig.exists() or orig.is_symlink():
                os.replace(orig, path)
                results.append(HookResult(name, path, "restored"))
            else:
                path.unlink()
                results.append(HookResult(name, path, "removed"))
        except OSError as exc:
            raise HookError(f"Cannot remove hook {path}: {exc.strerror or exc}") from exc
    if "pre-commit" in names:
        _uninstall_merge_driver(cwd)
    return results


def status(cwd: str | os.PathLike[str] | None = None) -> list[HookResult]:
    """Each gittrack hook: ``installed``, ``chained`` (with an original) or ``absent``."""
    directory = hooks_dir(cwd)
    out = []
    for name in HOOK_NAMES:
        path = directory / name
        if not is_gittrack_hook(path):
            out.append(HookResult(name, path, "absent"))
        elif (directory / (name + ORIG_SUFFIX)).exists():
            out.append(HookResult(name, path, "chained"))
        else:
            out.append(HookResult(name, path, "installed"))
    return out
