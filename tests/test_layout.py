"""Ref names and record paths are written once, in gittrack/layout.py.

A second spelling of ``refs/gittrack/runs/`` or ``.gittrack/artifacts.yaml``
drifts from the first; this test reads every module's code (docstrings and
comments aside) and fails on a copy.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from gittrack import layout

PACKAGE = Path(layout.__file__).resolve().parent
# spelled inside a string: a copy of a ref name or a path
NEEDLES = ("refs/gittrack", ".gittrack/", "index.sqlite", "/sha256/", "sha256/{")
# a whole string that is one of layout's names
NAMES = {
    "locks",
    "run.yaml",
    "params.yaml",
    "tags.yaml",
    "metrics.yaml",
    "artifacts.yaml",
    "experiments.yaml",
    "environment.yaml",
    "inputs.yaml",
    "note.md",
    "models.yaml",
    "model.yaml",
}


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


# strings that merely look alike: a conda environment file is not a gittrack record
NOT_OURS = {("env/collect.py", "environment.yaml")}


def _copies(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            if (str(path.relative_to(PACKAGE)), node.value) in NOT_OURS:
                continue
            if node.value in NAMES or any(n in node.value for n in NEEDLES):
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: {node.value!r}")
    return found


def test_ref_names_and_record_paths_are_defined_only_in_layout():
    copies = [
        hit
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "layout.py"
        for hit in _copies(path)
    ]
    assert copies == []


@pytest.mark.parametrize(
    ("sha", "ok"),
    [
        ("a" * 64, True),
        ("A" * 64, False),
        ("a" * 63, False),
        ("a" * 64 + "\n", False),
        ("../../../config", False),
        ("/etc/passwd", False),
    ],
)
def test_object_paths_are_built_only_from_a_sha256(sha, ok):
    from gittrack.errors import InvalidParameter

    if ok:
        assert layout.object_key(sha) == f"sha256/{sha[:2]}/{sha[2:]}"
    else:
        with pytest.raises(InvalidParameter, match="64 lowercase hex"):
            layout.object_key(sha)
