"""Dataset inputs of runs logged over REST (``runs/log-inputs``), kept in ``.gittrack/inputs.yaml``."""

from __future__ import annotations

from typing import Any

from gittrack.core.records.formats import dump_yaml, load_yaml
from gittrack.layout import INPUTS_FILE, record_path


def read_inputs(client: Any, run: Any) -> list[dict[str, Any]]:
    """The dataset inputs recorded in the run's newest commit ([] when none)."""
    if not run.commit:
        return []
    try:
        entry = client.repo.git[run.commit].tree[record_path(INPUTS_FILE)]
    except KeyError:
        return []
    data = load_yaml(client.repo.git[entry.id].data) or []
    return data if isinstance(data, list) else []


def append_inputs(client: Any, run_id: str, datasets: list[dict[str, Any]]) -> None:
    """Add dataset inputs to the run; one already recorded (same name and digest) is kept once."""
    client.flush(run_id)
    current = read_inputs(client, client.get_run(run_id))

    def ident(item: dict[str, Any]) -> tuple[Any, Any]:
        ds = item.get("dataset") or {}
        return ds.get("name"), ds.get("digest")

    seen = {ident(i) for i in current}
    for item in datasets:
        clean = {
            "dataset": {k: str(v) for k, v in item["dataset"].items() if v is not None},
            "tags": [
                {"key": str(t.get("key", "")), "value": str(t.get("value", ""))}
                for t in item.get("tags") or []
                if isinstance(t, dict)
            ],
        }
        if ident(clean) not in seen:
            current.append(clean)
            seen.add(ident(clean))
    client.writer(run_id).put_record_file(INPUTS_FILE, dump_yaml(current))
