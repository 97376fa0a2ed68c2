"""Versions of derived results (issue 13): a constant plus a digest of the files that make them.

A stage stores the version it computed a row with; a row whose inputs and version are
unchanged is reused instead of computed again. :func:`files_digest` is the digest part.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path


def files_digest(paths: Iterable[Path]) -> str:
    """16 hex characters of the sha256 over each file's name and bytes, in the order given.

    Raises:
        OSError: a file cannot be read.
    """
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]
