"""Which installed distributions a run's code imports, and whether they changed.

Read statically from the run's snapshot: every ``import X`` / ``from X import``
(absolute imports) of its Python files, less the standard library and the
snapshot's own modules, mapped to distributions with the installed packages'
metadata, plus what those distributions require (transitively). That is what
``gittrack rerun --env check`` compares between the recorded environment and the
one the rerun would use.
"""

from __future__ import annotations

import ast
import re
import shlex
import sys
from typing import Any

from gittrack.env.collect import normalize_name
from gittrack.errors import EnvironmentMismatch

MAX_FILES = 5000
MAX_FILE_BYTES = 2 * 1024 * 1024
_SKIP_DIRS = {"node_modules", "site-packages", "venv", "env", "__pycache__"}
_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def imported_modules(git: Any, tree_id: Any) -> set[str]:
    """Top-level names the snapshot's Python files import, less the standard library
    and the snapshot's own modules and packages."""
    import pygit2

    imported: set[str] = set()
    local: set[str] = set()
    stack = [(git[tree_id], "")]
    seen = 0
    while stack and seen < MAX_FILES:
        tree, prefix = stack.pop()
        for entry in tree:
            name = entry.name
            if entry.type == pygit2.GIT_OBJECT_TREE:
                if name.startswith(".") or name in _SKIP_DIRS:
                    continue
                local.add(name)
                stack.append((git[entry.id], f"{prefix}{name}/"))
            elif name.endswith(".py") and entry.type == pygit2.GIT_OBJECT_BLOB:
                seen += 1
                local.add(name[:-3])
                blob = git[entry.id]
                if blob.size > MAX_FILE_BYTES:
                    continue
                try:
                    module = ast.parse(blob.data, filename=prefix + name)
                except (SyntaxError, ValueError):
                    continue
                for node in ast.walk(module):
                    if isinstance(node, ast.Import):
                        imported.update(a.name.split(".")[0] for a in node.names)
                    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                        imported.add(node.module.split(".")[0])
    stdlib = set(getattr(sys, "stdlib_module_names", ())) | set(sys.builtin_module_names)
    return {m for m in imported if m not in stdlib and m not in local and m != "__future__"}


def imported_distributions(modules: set[str]) -> set[str]:
    """The distributions (PEP 503 names) providing ``modules``, with everything they
    require that is not behind an extra, transitively. A module no installed
    distribution claims counts under its own name."""
    from importlib import metadata

    owners = metadata.packages_distributions()
    todo: list[str] = []
    for module in modules:
        todo.extend(normalize_name(d) for d in owners.get(module, [module]))
    found: set[str] = set()
    while todo:
        dist = todo.pop()
        if dist in found:
            continue
        found.add(dist)
        try:
            requires = metadata.requires(dist) or []
        except metadata.PackageNotFoundError:
            continue
        for req in requires:
            spec, _, marker = req.partition(";")
            if "extra" in marker:
                continue
            found_name = _REQ_NAME.match(spec)
            if found_name:
                todo.append(normalize_name(found_name.group(1)))
    return found


def check(run_id: str, needed: set[str], recorded: dict, current: dict, python: str) -> None:
    """Refuse when a distribution of ``needed`` has another version in ``current``
    than in ``recorded`` (environment snapshots).

    Raises:
        EnvironmentMismatch: with the changed versions and the ``pip install`` line
            (for interpreter ``python``) that installs the recorded ones.
    """
    old = recorded.get("distributions") or {}
    new = current.get("distributions") or {}
    changes = {
        d: (str(old[d]), None if new.get(d) is None else str(new[d]))
        for d in sorted(needed)
        if old.get(d) is not None and old.get(d) != new.get(d)
    }
    if changes:
        pins = " ".join(shlex.quote(f"{d}=={v}") for d, (v, _) in changes.items())
        raise EnvironmentMismatch(run_id, changes, f"{shlex.quote(python)} -m pip install {pins}")
