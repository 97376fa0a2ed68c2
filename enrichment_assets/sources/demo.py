"""The bundled demo scrapes: invented organizations, dogs and texts written for this project.

``enrichment_assets/demo_data/<organization>/<scrape_id>.jsonl`` holds three organizations:
``demo-paws-rescue`` (English), ``demo-tierheim-nord`` (German) and ``demo-hope-hounds``
(English). Between them they exercise the pipeline's edge cases: a very short description,
a cat, a prompt-injection attempt inside a description, a listing without age, breed or
size, ``birth_date`` versus ``age_text``, weights and fees, and exactly one line that breaks
the scrape contract (``weight_kg`` -5 in ``demo-hope-hounds``). Nothing in them is copied
from the real data sets under ``shared/data``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from enrichment_assets.domain.contract import validate_organization_key


def demo_data_dir() -> Path:
    """Folder of the bundled demo scrapes (``<package>/demo_data``), laid out like a landing folder."""
    return Path(__file__).resolve().parents[1] / "demo_data"


def _copy_atomically(target: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".jsonl")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def import_demo(landing: Path) -> dict[str, Path]:
    """Copy every demo scrape file to ``<landing>/<organization>/<file name>``, byte for byte.

    Each copy is atomic (hidden temp file in the target folder, then rename), so a sensor
    never sees half a file. A target that already holds identical bytes is left untouched
    (not rewritten, same mtime), so repeated runs create no new scrape; a target with
    different bytes is replaced. Returns organization -> path of its demo file in
    ``landing`` (each demo organization has exactly one file), whether written now or
    already present.

    Raises:
        InvalidOrganizationKey: when a demo folder name is not a valid organization key.
        ValueError: when a demo organization holds more than one scrape file (the return
            shape could not name them all).
        FileNotFoundError: when the demo data folder is missing from the installation.
    """
    source_root = demo_data_dir()
    if not source_root.is_dir():
        raise FileNotFoundError(f"demo data folder {source_root} not found")
    landing = Path(landing)
    written: dict[str, Path] = {}
    for folder in sorted(p for p in source_root.iterdir() if p.is_dir()):
        organization = validate_organization_key(folder.name)
        files = sorted(p for p in folder.glob("*.jsonl") if not p.name.startswith("."))
        if len(files) > 1:
            raise ValueError(f"demo organization {organization}: {len(files)} scrape files, expected one")
        for source in files:
            target = landing / organization / source.name
            data = source.read_bytes()
            if not (target.is_file() and target.read_bytes() == data):
                target.parent.mkdir(parents=True, exist_ok=True)
                _copy_atomically(target, data)
            written[organization] = target
    return written
