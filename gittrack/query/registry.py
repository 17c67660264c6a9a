"""``search_registered_models`` and ``search_model_versions``: MLflow's filters and orders.

Filters are parsed by :mod:`gittrack.query.grammar` with
:data:`~gittrack.query.grammar.REGISTERED_MODELS` (``name``, ``tags.<key>``) and
:data:`~gittrack.query.grammar.MODEL_VERSIONS` (``name``, ``run_id``, ``source_path``,
``version_number``, ``tags.<key>``), so they share the run filter's quoting, errors and
positions. Registered models are few and each is one small record, so the clauses are
evaluated here; pages are offsets (:mod:`gittrack.query.pages`) into the stable order:
the ``order_by`` keys, then name ascending (and version descending for versions), as
MLflow's SQL store orders them.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from gittrack.core.entities import ModelVersion, RegisteredModel
from gittrack.errors import InvalidParameter
from gittrack.query.grammar import (
    ATTRIBUTE,
    COMPARE,
    MODEL_VERSIONS,
    REGISTERED_MODELS,
    TAG,
    Clause,
    Entity,
    parse_filter,
    parse_order_by,
)

_OPS = COMPARE

MODELS_MAX_RESULTS_DEFAULT = 100
MODELS_MAX_RESULTS_THRESHOLD = 1000
VERSIONS_MAX_RESULTS_DEFAULT = 10_000
VERSIONS_MAX_RESULTS_THRESHOLD = 200_000
VERSIONS_DEFAULT_ORDER = ("last_updated_timestamp DESC", "name ASC", "version_number DESC")


def _value(item: Any, c: Clause) -> Any:
    if c.kind == TAG:
        return item.tags.get(c.key)
    if c.key == "source_path":
        return item.source
    if c.key == "version_number":
        return int(item.version)
    return getattr(item, c.key, None)


def _matches(item: Any, c: Clause) -> bool:
    value = _value(item, c)
    if c.op == "IS NULL":
        return value is None
    if c.op == "IS NOT NULL":
        return value is not None
    return value is not None and _OPS[c.op](value, c.value)


def _sort_value(item: Any, *, key: str) -> Any:
    if key == "version_number":
        return int(item.version)
    value = getattr(item, key, None)
    return (value is None, value if value is not None else 0)


def _ordered(items: list[Any], order_by: Sequence[str] | None, entity: Entity) -> list[Any]:
    keys = parse_order_by(list(order_by or []), entity)
    seen: set[str] = set()
    for k in keys:
        if k.kind != ATTRIBUTE:
            raise InvalidParameter(
                f"Invalid order by key '{k.kind}s.{k.key}' specified. Valid keys are "
                f"{', '.join(entity.order)}"
            )
        if k.key in seen:
            raise InvalidParameter(f"`order_by` contains duplicate fields: {list(order_by or [])}")
        seen.add(k.key)
    # ties: name ascending, then (versions) version descending, as MLflow's SQL store
    out = sorted(items, key=lambda i: -int(i.version)) if entity is MODEL_VERSIONS else items
    out = sorted(out, key=lambda i: i.name) if "name" not in seen else out
    for k in reversed(keys):
        out = sorted(out, key=functools.partial(_sort_value, key=k.key), reverse=not k.ascending)
    return out


PROMPT_TAG = "mlflow.prompt.is_prompt"


def _without_prompts(clauses: list[Clause], items: Sequence[Any]) -> tuple[list[Clause], set[str]]:
    """MLflow's rule for its prompt tag (MLflow keeps prompts in the registry, marked by
    ``tags.`mlflow.prompt.is_prompt` = 'true'``): unless the filter asks for prompts
    (``= 'true'`` or ``!= 'false'`` on that tag), clauses on the tag are dropped and the
    names with a prompt-tagged model or version are left out — MLflow's client adds
    ``tags.`mlflow.prompt.is_prompt` != 'true'`` to every search, which must keep the
    models that do not have the tag. Returns the clauses to apply and the names to leave out.
    """
    for c in clauses:
        if c.kind == TAG and c.key == PROMPT_TAG:
            value = str(c.value).lower()
            if (c.op == "=" and value == "true") or (c.op == "!=" and value == "false"):
                return clauses, set()
            break
    rest = [c for c in clauses if not (c.kind == TAG and c.key == PROMPT_TAG)]
    prompts = {i.name for i in items if i.tags.get(PROMPT_TAG) == "true"}
    return rest, prompts


def filter_models(
    models: Sequence[RegisteredModel], filter_string: str | None, order_by: Sequence[str] | None
) -> list[RegisteredModel]:
    """The models matching ``filter_string``, in ``order_by`` order (then by name).

    Raises:
        InvalidParameter: a bad filter or order_by, naming its position.
    """
    clauses, prompts = _without_prompts(parse_filter(filter_string, REGISTERED_MODELS), models)
    found = [m for m in models if m.name not in prompts and all(_matches(m, c) for c in clauses)]
    return _ordered(found, order_by, REGISTERED_MODELS)


def filter_versions(
    versions: Sequence[ModelVersion], filter_string: str | None, order_by: Sequence[str] | None
) -> list[ModelVersion]:
    """The versions matching ``filter_string``, in ``order_by`` order (then name ascending,
    version descending); no ``order_by``: MLflow's default, the last updated first.

    Raises:
        InvalidParameter: a bad filter or order_by, naming its position.
    """
    clauses, prompts = _without_prompts(parse_filter(filter_string, MODEL_VERSIONS), versions)
    found = [v for v in versions if v.name not in prompts and all(_matches(v, c) for c in clauses)]
    return _ordered(found, order_by or VERSIONS_DEFAULT_ORDER, MODEL_VERSIONS)


def name_filter(filter_string: str | None) -> set[str] | None:
    """The names a version filter restricts to with ``name = '...'`` or ``name IN (...)``
    (so only those models are read), or None when it names none."""
    names: set[str] | None = None
    for c in parse_filter(filter_string, MODEL_VERSIONS):
        if c.kind == ATTRIBUTE and c.key == "name" and c.op in ("=", "IN"):
            these = {c.value} if c.op == "=" else set(c.value)
            names = these if names is None else names & these
    return names
