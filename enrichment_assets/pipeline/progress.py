"""A process-level progress hook the stages report to (``enrichment run``'s one progress bar).

The stages call :func:`stage` when they start (with how many listings they will go
through) and :func:`advance` per listing done. Without a hook (Dagster UI runs, tests)
both do nothing. Not thread-safe by design: the calls come from the run's thread (model
answers are stored on it too, :func:`~enrichment_assets.pipeline.calls.run_structured_calls`).
"""

from __future__ import annotations

from collections.abc import Callable

_HOOK: dict[str, Callable | None] = {"stage": None, "advance": None}


def set_hook(on_stage: Callable[[str, int | None, str], None] | None,
             on_advance: Callable[[int], None] | None) -> None:
    """Install (or with ``None``, remove) the hook: ``on_stage(name, total, unit)``, ``on_advance(n)``."""
    _HOOK["stage"], _HOOK["advance"] = on_stage, on_advance


def stage(name: str, total: int | None, unit: str = "listings") -> None:
    """A stage starts and will go through ``total`` items of ``unit`` (``None``: as many
    listings as the normalizing stage went through)."""
    if _HOOK["stage"] is not None:
        _HOOK["stage"](name, total, unit)


def advance(n: int = 1) -> None:
    """``n`` more items of the current stage are done."""
    if _HOOK["advance"] is not None:
        _HOOK["advance"](n)
