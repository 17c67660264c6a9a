"""Turning Python objects into artifact bytes and back (text, dicts, figures, images, tables)."""

from __future__ import annotations

import io
import json
import posixpath
from typing import Any

from gittrack.errors import InvalidArtifactPath

YAML_EXT = (".yaml", ".yml")
IMAGE_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".gif": "GIF",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
}


def _ext(artifact_file: str) -> str:
    return posixpath.splitext(artifact_file)[1].lower()


def text_bytes(text: Any) -> bytes:
    if not isinstance(text, str):
        raise InvalidArtifactPath(f"log_text needs a str, got {type(text).__name__}")
    return text.encode("utf-8")


def dict_bytes(d: Any, artifact_file: str) -> bytes:
    """JSON (indent 2), or YAML when the name ends in .yaml/.yml, as MLflow."""
    if _ext(artifact_file) in YAML_EXT:
        import yaml

        return yaml.safe_dump(d, default_flow_style=False, sort_keys=False).encode("utf-8")
    try:
        return json.dumps(d, indent=2).encode("utf-8")
    except TypeError as exc:
        raise InvalidArtifactPath(f"log_dict: the value cannot be written as JSON: {exc}") from exc


def parse_dict(data: bytes, artifact_file: str) -> Any:
    if _ext(artifact_file) in YAML_EXT:
        from gittrack.core.records.formats import load_yaml

        return load_yaml(data)
    return json.loads(data)


def figure_bytes(figure: Any, artifact_file: str) -> bytes:
    """A matplotlib or plotly figure saved in the format its name asks for.

    Raises:
        InvalidArtifactPath: an unknown figure type or extension.
    """
    ext = _ext(artifact_file)
    module = type(figure).__module__
    if module.startswith("matplotlib"):
        if not ext:
            raise InvalidArtifactPath(
                f"log_figure: {artifact_file!r} needs an extension such as .png"
            )
        buf = io.BytesIO()
        figure.savefig(buf, format=ext[1:])
        return buf.getvalue()
    if module.startswith("plotly"):
        if ext == ".html":
            return figure.to_html(include_plotlyjs="cdn").encode("utf-8")
        if ext == ".json":
            return figure.to_json().encode("utf-8")
        return figure.to_image(format=ext[1:])
    raise InvalidArtifactPath(
        f"log_figure takes a matplotlib or plotly figure, got {type(figure).__module__}."
        f"{type(figure).__name__}"
    )


def image_bytes(image: Any, artifact_file: str) -> bytes:
    """A numpy array (HxW, HxWx3, HxWx4; uint8, or floats in [0, 1]) or PIL image as PNG/JPEG/....

    Raises:
        InvalidArtifactPath: an unsupported extension, shape or value range.
    """
    from PIL import Image

    fmt = IMAGE_FORMATS.get(_ext(artifact_file))
    if fmt is None:
        raise InvalidArtifactPath(
            f"log_image: {artifact_file!r} must end in one of {sorted(IMAGE_FORMATS)}"
        )
    if not isinstance(image, Image.Image):
        import numpy as np

        arr = np.asarray(image)
        if arr.ndim == 3 and arr.shape[2] == 1:
            arr = arr[:, :, 0]
        if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
            raise InvalidArtifactPath(f"log_image: unsupported array shape {arr.shape}")
        if arr.dtype.kind == "f":
            if arr.size and (np.nanmin(arr) < 0 or np.nanmax(arr) > 1):
                raise InvalidArtifactPath("log_image: float images must have values in [0, 1]")
            arr = (arr * 255).round().astype(np.uint8)
        elif arr.dtype.kind in "iub":
            if arr.size and (arr.min() < 0 or arr.max() > 255):
                raise InvalidArtifactPath("log_image: integer images must have values in [0, 255]")
            arr = arr.astype(np.uint8)
        else:
            raise InvalidArtifactPath(f"log_image: unsupported dtype {arr.dtype}")
        image = Image.fromarray(arr)
    if fmt == "JPEG" and image.mode == "RGBA":
        image = image.convert("RGB")
    buf = io.BytesIO()
    image.save(buf, format=fmt)
    return buf.getvalue()


def table_bytes(data: Any, artifact_file: str) -> bytes:
    """A DataFrame or dict of columns as MLflow's table JSON: ``{"columns": [...], "data": [[...]]}``.

    Raises:
        InvalidArtifactPath: the name does not end in .json, or the data is not tabular.
    """
    import pandas as pd

    if _ext(artifact_file) != ".json":
        raise InvalidArtifactPath(f"log_table: {artifact_file!r} must end in .json")
    if isinstance(data, dict):
        try:
            data = pd.DataFrame(data)
        except ValueError as exc:
            raise InvalidArtifactPath(f"log_table: the columns do not form a table: {exc}") from exc
    if not isinstance(data, pd.DataFrame):
        raise InvalidArtifactPath(
            f"log_table takes a pandas DataFrame or a dict of columns, got {type(data).__name__}"
        )
    return data.to_json(orient="split", index=False).encode("utf-8")


def parse_table(data: bytes) -> Any:
    import pandas as pd

    parsed = json.loads(data)
    return pd.DataFrame(parsed["data"], columns=parsed["columns"])
