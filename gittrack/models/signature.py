"""Model signatures inferred from an input example (MLflow's column/tensor schema shapes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

_NUMPY_TO_MLFLOW = {
    "b": "boolean",
    "i": "long",
    "u": "long",
    "f": "double",
    "O": "string",
    "U": "string",
    "S": "binary",
}


def _schema(data: Any) -> list[dict[str, Any]] | None:
    try:
        import numpy as np
        import pandas as pd
    except ImportError:  # pragma: no cover
        return None
    if isinstance(data, pd.DataFrame):
        return [
            {"name": str(c), "type": _NUMPY_TO_MLFLOW.get(data[c].dtype.kind, "string")}
            for c in data.columns
        ]
    if isinstance(data, pd.Series):
        return [{"type": _NUMPY_TO_MLFLOW.get(data.dtype.kind, "string")}]
    arr = np.asarray(data)
    if arr.dtype.kind in "biufc":
        shape = [-1, *arr.shape[1:]]
        return [{"type": "tensor", "tensor-spec": {"dtype": str(arr.dtype), "shape": shape}}]
    return None


def infer_signature(model_input: Any, model_output: Any = None) -> dict[str, str] | None:
    """``{"inputs": json, "outputs": json}`` for an example input (and output), or None."""
    inputs = _schema(model_input)
    if inputs is None:
        return None
    sig = {"inputs": json.dumps(inputs)}
    if model_output is not None:
        outputs = _schema(model_output)
        if outputs is not None:
            sig["outputs"] = json.dumps(outputs)
    return sig


def save_input_example(path: Path, example: Any) -> dict[str, str] | None:
    """Write ``input_example.json`` (pandas split or a nested list); returns its MLmodel info."""
    try:
        import numpy as np
        import pandas as pd
    except ImportError:  # pragma: no cover
        return None
    if isinstance(example, pd.DataFrame):
        (path / "input_example.json").write_text(example.to_json(orient="split", index=False))
        return {
            "artifact_path": "input_example.json",
            "type": "dataframe",
            "pandas_orient": "split",
        }
    arr = np.asarray(example)
    if arr.dtype.kind in "biufc":
        (path / "input_example.json").write_text(json.dumps({"inputs": arr.tolist()}))
        return {"artifact_path": "input_example.json", "type": "ndarray", "format": "tf-serving"}
    return None
