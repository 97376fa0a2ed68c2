"""``enrichment export``: the published profiles as JSON Lines, CSV or Parquet (issue 12).

The rows are those of the database view ``published_profiles``
(:func:`enrichment_assets.storage.published.load_published`): one per published listing and
language. In JSON Lines ``facts`` and ``profile`` are nested objects; in CSV and Parquet they
are JSON text (so every format reads back with ``pandas.read_json(lines=True)``,
``read_csv`` and ``read_parquet`` into the same values). ``updated_at`` is ISO 8601 UTC
(naive) text in every format.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO

import pandas as pd

FORMATS = ("jsonl", "csv", "parquet")
JSON_COLUMNS = ("facts", "profile")


def _flat(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for column in JSON_COLUMNS:
        out[column] = out[column].map(lambda v: json.dumps(v, ensure_ascii=False, sort_keys=True))
    out["updated_at"] = out["updated_at"].map(lambda t: None if pd.isna(t) else pd.Timestamp(t).isoformat())
    return out


def write_export(frame: pd.DataFrame, fmt: str, out: Path | IO[bytes]) -> int:
    """Write ``frame`` (from ``load_published``) as ``fmt`` to a path or a binary stream;
    return the number of rows written.

    Raises:
        ValueError: for a format not in :data:`FORMATS`.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    flat = _flat(frame)
    if fmt == "parquet":
        flat.to_parquet(out, index=False)
        return len(flat)
    if fmt == "csv":
        text = flat.to_csv(index=False)
    else:
        records = flat.to_dict(orient="records")
        lines = []
        for record, facts, profile in zip(records, frame["facts"], frame["profile"]):
            record.update(facts=facts, profile=profile)
            record = {k: (None if isinstance(v, float) and pd.isna(v) else v) for k, v in record.items()}
            lines.append(json.dumps(record, ensure_ascii=False, default=str))
        text = "".join(line + "\n" for line in lines)
    data = text.encode("utf-8")
    if isinstance(out, Path):
        out.write_bytes(data)
    else:
        out.write(data)
    return len(flat)


def read_export(path: Path, fmt: str) -> pd.DataFrame:
    """Read an export back with pandas (``facts``/``profile`` as dicts again): the round trip
    the tests check and a website's importer can copy."""
    if fmt == "jsonl":
        frame = pd.read_json(path, lines=True, dtype=False)
    elif fmt == "csv":
        frame = pd.read_csv(path, dtype={"external_id": str})
    else:
        frame = pd.read_parquet(path)
    for column in JSON_COLUMNS:
        frame[column] = frame[column].map(lambda v: json.loads(v) if isinstance(v, str) else v)
    return frame
