"""Turning a model's completion text into a validated pydantic object.

Models wrap JSON in fences and prose ("Here is the profile: ```json {...} ``` Hope this
helps"), or answer prose followed by bare JSON. :func:`parse_structured` takes the first
balanced ``{...}`` object in the text that validates (issue 14). Answers that echo the
prompt's delimiters or instructions are rejected, so a repair turn (or ``failed``) follows
instead of storing schema-valid junk.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

T = TypeVar("T", bound=BaseModel)

_FENCE = re.compile(r"^\s*```(?:json|JSON)?\s*\n?(.*?)\n?\s*```\s*$", re.DOTALL)
_DECODER = json.JSONDecoder()


@functools.lru_cache(maxsize=64)
def schema_json(schema: type[BaseModel]) -> str:
    """``schema``'s JSON schema as compact text, built once per class and process
    (``model_json_schema()`` is not cached and cost 9% of a profile run, FACTS.md)."""
    return json.dumps(schema.model_json_schema(), ensure_ascii=False)


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


def json_objects(text: str) -> Iterator[dict[str, Any]]:
    """Every top-level JSON object in ``text``, in order (prose, fences and tails skipped)."""
    position = 0
    while (start := text.find("{", position)) >= 0:
        try:
            value, end = _DECODER.raw_decode(text, start)
        except json.JSONDecodeError:
            position = start + 1
            continue
        if isinstance(value, dict):
            yield value
        position = end


def _strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path or "<root>", value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, f"{path}.{i}")


def echo_errors(data: dict[str, Any], markers: Sequence[str]) -> list[str]:
    """``field: ...`` errors for every string field that contains one of ``markers``."""
    errors = []
    for path, text in _strings(data):
        lowered = text.lower()
        for marker in markers:
            if marker and marker.lower() in lowered:
                errors.append(f"{path}: repeats the prompt ({marker[:60]!r}); write only the requested text")
                break
    return errors


def _validation_errors(exc: ValidationError) -> list[str]:
    return [f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()]


def parse_structured(text: str | None, model: type[T], echo_markers: Sequence[str] = ()) -> T:
    """The first JSON object in ``text`` that validates as ``model`` and echoes no marker.

    ``echo_markers``: strings no field may contain (the prompt's data-block delimiters and
    instruction lines, see :func:`enrichment_assets.llm.prompts.echo_markers`).

    Raises:
        StructuredOutputError: with ``errors`` listing every problem of the best candidate
        (JSON syntax, each pydantic error as ``field: message``, or the echoed marker) so
        they can be sent back in a repair turn.
    """
    if not text or not text.strip():
        raise StructuredOutputError("empty completion", text or "")
    candidates = list(json_objects(strip_code_fences(text)))
    if not candidates:
        try:
            json.loads(strip_code_fences(text))
        except json.JSONDecodeError as exc:
            raise StructuredOutputError(f"completion is not valid JSON: {exc}", text) from exc
        raise StructuredOutputError("completion holds no JSON object", text)
    first_errors: list[str] | None = None
    for data in candidates:
        try:
            value = model.model_validate(data)
        except ValidationError as exc:
            first_errors = first_errors or _validation_errors(exc)
            continue
        echoed = echo_errors(data, echo_markers)
        if echoed:
            first_errors = first_errors or echoed
            continue
        return value
    errors = first_errors or ["no JSON object validates"]
    raise StructuredOutputError(
        f"completion does not validate as {model.__name__}: " + "; ".join(errors), text, errors)
