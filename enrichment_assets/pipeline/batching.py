"""Which organization partitions go into which run (no Dagster here).

A Dagster run over many partitions of a dynamic partitions definition names a *range*:
the contiguous keys between a first and a last key in the order the instance registered
them (``instance.get_dynamic_partitions``, insertion order). A selection that is not
contiguous in that order is split into several ranges; each range is cut into chunks of
at most ``size`` keys (``ENRICHMENT_MAX_PARTITIONS_PER_RUN``).
"""

from __future__ import annotations

from collections.abc import Sequence


def contiguous_chunks(registered: Sequence[str], selected: Sequence[str], size: int) -> list[list[str]]:
    """``selected`` as runs of keys contiguous in ``registered`` order, each at most ``size``
    long, in ``registered`` order. Duplicates count once.

    Raises:
        ValueError: a selected key is not registered, or ``size`` < 1.
    """
    if size < 1:
        raise ValueError(f"size must be at least 1, got {size}")
    position = {key: index for index, key in enumerate(registered)}
    missing = sorted(set(selected) - set(position))
    if missing:
        raise ValueError(f"not registered as partitions: {', '.join(missing)}")
    chunks: list[list[str]] = []
    previous = None
    for index in sorted({position[key] for key in selected}):
        if not chunks or previous != index - 1 or len(chunks[-1]) >= size:
            chunks.append([])
        chunks[-1].append(registered[index])
        previous = index
    return chunks
