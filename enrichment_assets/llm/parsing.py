"""Turning a model's completion text into a validated pydantic object."""

from __future__ import annotations

import json
import re
from typing import TypeVar

from pydantic import BaseModel, ValidationError

T = TypeVar("T", bound=BaseModel)

_FENCE = re.compile(r"^\s*```(?:json|JSON)?\s*\n?(.*?)\n?\s*```\s*$", re.DOTALL)


class StructuredOutputError(ValueError):
    """The completion is not valid JSON or does not validate; ``raw`` keeps the text."""

    def __init__(self, message: str, raw: str, errors: list[str] | None = None):
        super().__init__(message)
        self.raw = raw
        self.errors = errors or [message]


def strip_code_fences(text: str) -> str:
    """``text`` without a surrounding ```json ... ``` fence (models add one despite JSON mode)."""
    match = _FENCE.match(text)
    return match.group(1).strip() if match else text.strip()


def parse_structured(text: str | None, model: type[T]) -> T:
    """Parse ``text`` as JSON and validate it as ``model``.

    Raises:
        StructuredOutputError: with ``errors`` listing every problem (JSON syntax, or each
        pydantic error as ``field: message``) so they can be sent back in a repair turn.
    """
    if not text or not text.strip():
        raise StructuredOutputError("empty completion", text or "")
    body = strip_code_fences(text)
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise StructuredOutputError(f"completion is not valid JSON: {exc}", text) from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()
        ]
        raise StructuredOutputError(
            f"completion does not validate as {model.__name__}: " + "; ".join(errors), text, errors
        ) from exc
