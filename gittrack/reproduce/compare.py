"""Comparing a rerun with its original: params, metrics (final values and whole
histories) within a relative tolerance, artifacts by hash, environment versions."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

# verdicts of one row
SAME = "same"
INTENDED = "intended"  # a param changed as --set asked
WITHIN = "within tolerance"
DIFFERS = "differs"
CHANGED = "changed"  # environment: shown, does not make the rerun differ


@dataclass(frozen=True)
class Difference:
    """One compared entry: ``kind`` is ``param``, ``metric``, ``artifact`` or
    ``environment``; ``verdict`` one of same, intended, within tolerance, differs,
    changed (environment rows, informative only)."""

    kind: str
    key: str
    original: Any
    rerun: Any
    verdict: str
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def close(a: float, b: float, tolerance: float) -> bool:
    """``a`` and ``b`` equal within ``tolerance`` relative to the larger magnitude
    (NaN equals NaN; infinities only themselves)."""
    if a == b or (math.isnan(a) and math.isnan(b)):
        return True
    if not (math.isfinite(a) and math.isfinite(b)):
        return False
    return abs(a - b) <= tolerance * max(abs(a), abs(b))


def rel_diff(a: float, b: float) -> float:
    if a == b:
        return 0.0
    scale = max(abs(a), abs(b))
    return abs(a - b) / scale if scale and math.isfinite(scale) else math.inf


def compare_params(
    original: dict[str, str], rerun: dict[str, str], overrides: dict[str, str]
) -> list[Difference]:
    """One row per param of either run; overridden keys are ``intended`` when the
    rerun got the value asked for."""
    rows = []
    for key in sorted(set(original) | set(rerun)):
        a, b = original.get(key), rerun.get(key)
        if key in overrides:
            ok = b is not None and _same_value(b, overrides[key])
            detail = "" if ok else f"--set asked for {overrides[key]}"
            rows.append(Difference("param", key, a, b, INTENDED if ok else DIFFERS, detail))
        else:
            rows.append(Difference("param", key, a, b, SAME if a == b else DIFFERS))
    return rows


def _same_value(a: str, b: str) -> bool:
    """Param strings equal as text or as numbers (``5e-1`` and ``0.5``)."""
    if a == b:
        return True
    try:
        return float(a) == float(b)
    except ValueError:
        return False


def compare_history(
    a: tuple[list, list], b: tuple[list, list], tolerance: float
) -> tuple[bool, str]:
    """Two histories as (steps, values): (within tolerance, a sentence)."""
    (sa, va), (sb, vb) = a, b
    if len(va) != len(vb):
        return False, f"history: {len(va)} points, rerun {len(vb)}"
    if sa != sb:
        i = next(i for i, (x, y) in enumerate(zip(sa, sb)) if x != y)
        return False, f"history: steps differ from point {i} (step {sa[i]} vs {sb[i]})"
    worst, at = 0.0, None
    ok = True
    for step, x, y in zip(sa, va, vb):
        if not close(x, y, tolerance):
            ok = False
        d = 0.0 if close(x, y, 0.0) else rel_diff(x, y)
        if d > worst:
            worst, at = d, step
    n = f"{len(va)} point{'' if len(va) == 1 else 's'}"
    if at is None:
        return True, f"history: {n}, equal"
    return ok, f"history: {n}, max rel. diff {worst:.3g} at step {at}"


def compare_metrics(
    store: Any, original_id: str, rerun_id: str, tolerance: float
) -> list[Difference]:
    """One row per metric of either run: the final values and the whole histories."""
    ra = store.read_record(store.run_commit(original_id), original_id)["metrics"]
    rb = store.read_record(store.run_commit(rerun_id), rerun_id)["metrics"]
    rows = []
    for key in sorted(set(ra) | set(rb)):
        a, b = (ra.get(key) or {}).get("value"), (rb.get(key) or {}).get("value")
        if a is None or b is None:
            rows.append(Difference("metric", key, a, b, DIFFERS, "missing in one run"))
            continue
        a, b = float(a), float(b)
        ha = store.metric_arrays(original_id, key)
        hb = store.metric_arrays(rerun_id, key)
        hist_ok, detail = compare_history(ha[:2], hb[:2], tolerance)
        if close(a, b, 0.0) and hist_ok and detail.endswith("equal"):
            verdict = SAME
        elif close(a, b, tolerance) and hist_ok:
            verdict = WITHIN
        else:
            verdict = DIFFERS
            if not close(a, b, tolerance):
                detail = f"final: rel. diff {rel_diff(a, b):.3g}; {detail}"
        rows.append(Difference("metric", key, a, b, verdict, detail))
    return rows


def compare_artifacts(original: dict[str, Any], rerun: dict[str, Any]) -> list[Difference]:
    """One row per artifact path of either run, compared by sha256."""
    rows = []
    for path in sorted(set(original) | set(rerun)):
        a = (original.get(path) or {}).get("sha256")
        b = (rerun.get(path) or {}).get("sha256")
        sa, sb = (f"sha256:{a[:12]}" if a else None), (f"sha256:{b[:12]}" if b else None)
        rows.append(Difference("artifact", path, sa, sb, SAME if a == b else DIFFERS))
    return rows


def compare_environments(original: dict | None, rerun: dict | None) -> list[Difference]:
    """Environment entries that differ (``gittrack env diff``'s comparison), as rows."""
    from gittrack.env import environment

    if original is None or rerun is None:
        return []
    original, rerun = dict(original), dict(rerun)
    # problems describe the capture, not the environment
    original.pop("problems", None)
    rerun.pop("problems", None)
    return [
        Difference("environment", c.key, c.old, c.new, CHANGED, c.kind)
        for c in environment.diff(original, rerun)
    ]
