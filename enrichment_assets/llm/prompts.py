"""Prompt files: loading, merging, versioning and rendering.

``prompts/default.yaml`` holds every key; ``prompts/organizations/<org>.yaml`` overrides
only what it sets (mappings merge key by key, everything else is replaced). Templates are
Jinja2 (sandboxed, autoescape off, undefined names are errors) with ``{{listing}}``,
``{{profile}}``, ``{{target_language}}``, ``{{schema}}``, ``{{cliches}}`` and
``{{glossary}}``. Rendering is one pass: values are data, so a listing that contains
``{{schema}}`` reaches the model as those characters, never expanded (issue 10).

The listing reaches the model as a delimited data block::

    <listing_data>
    {"name": "Bello", "species": "dog", ..., "description": "..."}
    </listing_data>

JSON-encoded with ``<`` and ``>`` escaped (``\\u003c``/``\\u003e``), after look-alike
brackets (``‹ › ﹤ ﹥ ＜ ＞ 〈 〉 ⟨ ⟩ ˂ ˃ ...``) are folded to ``<``/``>``, so text inside a
description cannot close the block or imitate a closing tag, and with missing values
omitted: ``None``/NaN never reach a prompt as words.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from enrichment_assets import lexicon
from enrichment_assets.domain.models import DogProfile, NormalizedListing
from enrichment_assets.llm.parsing import schema_json

LISTING_TAG = "listing_data"
PROFILE_TAG = "profile_data"
TASK_PROFILE = "profile"
TASK_TRANSLATION = "translation"


class PromptFileError(ValueError):
    """A prompt file that does not parse or validate; the message names file and key."""


class PromptMetadata(BaseModel):
    model_config = ConfigDict(extra="forbid")

    organization_name: str | None = None
    source_language: str | None = None
    target_languages: list[str] = Field(default_factory=list)
    version: str = Field(min_length=1)


class PromptConfig(BaseModel):
    """The effective prompt configuration of one organization (default merged with override).

    ``min_source_chars``: usable description characters below which a listing is stored as
    ``insufficient_source`` and never sent to a model (default 150, from the production
    system's experience that shorter texts yield invented profiles). ``cliches``: phrases a
    description should not use (the quality rubric penalises them; the prompt lists them).
    """

    model_config = ConfigDict(extra="forbid")

    metadata: PromptMetadata
    system_prompt: str = Field(min_length=1)
    profile_prompt: str = Field(min_length=1)
    translation_prompt: str = Field(min_length=1)
    glossary: dict[str, str] = Field(default_factory=dict)
    min_source_chars: int = Field(default=150, ge=0)
    boilerplate: list[str] = Field(default_factory=list)
    cliches: list[str] = Field(default_factory=list)

    @property
    def prompt_version(self) -> str:
        """``<declared version>#<8 hex of the effective prompt texts>``.

        The hash part means an edit that forgets to bump ``version`` still re-profiles.
        """
        payload = json.dumps(
            [self.system_prompt, self.profile_prompt, self.translation_prompt, self.glossary,
             self.min_source_chars, self.boilerplate, self.cliches],
            sort_keys=True, ensure_ascii=False,
        )
        digest = hashlib.sha256(payload.encode("utf-8")).hexdigest()[:8]
        return f"{self.metadata.version}#{digest}"


def default_prompts_dir() -> Path:
    """``ENRICHMENT_PROMPTS_DIR`` when set, else ``prompts/`` at the project root."""
    from enrichment_assets.settings import get_settings

    return get_settings().prompts_path


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise PromptFileError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise PromptFileError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return data


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _format_errors(path: Path, exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "<root>"
        parts.append(f"{key}: {err['msg']}")
    return f"{path}: " + "; ".join(parts)


def load_prompt_config(organization: str, prompts_dir: Path | None = None) -> PromptConfig:
    """Load ``default.yaml`` merged with ``organizations/<organization>.yaml`` if present.

    Raises:
        PromptFileError: naming the file and the offending key.
    """
    prompts_dir = prompts_dir or default_prompts_dir()
    default_path = prompts_dir / "default.yaml"
    if not default_path.exists():
        raise PromptFileError(f"{default_path}: default prompt file missing")
    data = _read_yaml(default_path)
    try:
        PromptConfig.model_validate(data)
    except ValidationError as exc:
        raise PromptFileError(_format_errors(default_path, exc)) from exc
    org_path = prompts_dir / "organizations" / f"{organization}.yaml"
    if org_path.exists():
        data = _merge(data, _read_yaml(org_path))
        try:
            return PromptConfig.model_validate(data)
        except ValidationError as exc:
            raise PromptFileError(_format_errors(org_path, exc)) from exc
    return PromptConfig.model_validate(data)


def load_prompt_configs(organizations: list[str], prompts_dir: Path | None = None) -> dict[str, PromptConfig]:
    """:func:`load_prompt_config` for many organizations: the default file is read once, and
    the organizations without a file of their own share its config. Returns organization ->
    config in ``organizations`` order.

    Raises:
        PromptFileError: as :func:`load_prompt_config`.
    """
    prompts_dir = prompts_dir or default_prompts_dir()
    shared: PromptConfig | None = None
    configs: dict[str, PromptConfig] = {}
    for organization in organizations:
        if (prompts_dir / "organizations" / f"{organization}.yaml").exists():
            configs[organization] = load_prompt_config(organization, prompts_dir)
            continue
        if shared is None:
            shared = load_prompt_config(organization, prompts_dir)
        configs[organization] = shared
    return configs


def _present(value: Any) -> bool:
    """False for a value that must not reach a prompt as a word: ``None``, NaN, a blank
    string or a serialized null (:func:`enrichment_assets.lexicon.null_words`), and the
    normalizer's ``"unknown"``."""
    if value is None:
        return False
    if isinstance(value, float) and math.isnan(value):
        return False
    if isinstance(value, str) and (not value.strip() or value.strip().casefold() in lexicon.null_words()):
        return False
    if value == "unknown":
        return False
    return True


#: Characters that look like ``<`` or ``>`` (angle quotations, small/full-width forms,
#: mathematical and CJK brackets, modifier arrows, Canadian syllabics).
LOOKALIKE_BRACKETS = {
    **dict.fromkeys("‹﹤＜〈⟨˂ᐸ❮❬⧼⦉〈", "<"),
    **dict.fromkeys("›﹥＞〉⟩˃ᐳ❯❭⧽⦊〉", ">"),
}
_FOLD = str.maketrans(LOOKALIKE_BRACKETS)


def fold_brackets(text: str) -> str:
    """``text`` with every look-alike angle bracket replaced by ``<`` or ``>``."""
    return text.translate(_FOLD)


def _safe_json(payload: dict[str, Any]) -> str:
    text = fold_brackets(json.dumps(payload, ensure_ascii=False, indent=1))
    return text.replace("<", "\\u003c").replace(">", "\\u003e")


def listing_facts(listing: NormalizedListing, description: str | None = None) -> dict[str, Any]:
    """The facts of ``listing`` that go into a prompt, missing values left out.

    ``description`` replaces the listing's own (e.g. with boilerplate removed). The dog's
    ``display_name`` is its ``name`` when the scraped name is a title (the title is kept as
    ``listing_title``); ``stated_facts`` lists the fact-block entries the normalizer read
    (``{"fact", "value", "condition"?, "quote"}``, the quote exact text of the
    description) that are not structured fields already.
    """
    fields = {
        "name": listing.name,
        "species": listing.species,
        "breed": listing.breed,
        "mixed_breed": listing.mixed_breed,
        "age_months": listing.age_months,
        "sex": listing.sex,
        "size": listing.size,
        "weight_kg": listing.weight_kg,
        "height_cm": listing.height_cm,
        "neutered": listing.neutered,
        "vaccinated": listing.vaccinated,
        "fee": listing.fee,
        "currency": listing.currency if listing.fee is not None else None,
        "location": listing.location,
        "language": listing.language if listing.language != "und" else None,
    }
    facts = {k: v for k, v in fields.items() if _present(v)}
    if listing.display_name:
        facts["name"] = listing.display_name
        facts["listing_title"] = listing.name
    facts.update({k: v for k, v in listing.facts.items() if _present(v)})
    stated = [{"fact": f.field, "value": f.value, **({"condition": f.condition} if f.condition else {}),
               "quote": f.text}
              for f in listing.stated_facts
              if f.source == "block" and f.field not in _STRUCTURED_STATED]
    if stated:
        facts["stated_facts"] = stated
    facts["description"] = listing.description if description is None else description
    return facts


#: Stated facts that already reach the prompt as structured fields.
_STRUCTURED_STATED = frozenset({"sex", "neutered", "vaccinated", "weight_kg", "height_cm", "location",
                                "age_months", "birth_date"})


def render_data_block(tag: str, payload: dict[str, Any]) -> str:
    """``<tag>\\n{json}\\n</tag>`` with markup characters escaped inside the JSON."""
    return f"<{tag}>\n{_safe_json(payload)}\n</{tag}>"


def parse_data_block(text: str, tag: str) -> dict[str, Any]:
    """Inverse of :func:`render_data_block`: the JSON payload of the first ``tag`` block.

    Raises:
        ValueError: when the block is missing or its content is not a JSON object.
    """
    start_marker, end_marker = f"<{tag}>", f"</{tag}>"
    start = text.find(start_marker)
    end = text.find(end_marker, start + len(start_marker))
    if start < 0 or end < 0:
        raise ValueError(f"no <{tag}> data block in the prompt")
    payload = json.loads(text[start + len(start_marker):end])
    if not isinstance(payload, dict):
        raise ValueError(f"<{tag}> block does not hold a JSON object")
    return payload


@functools.lru_cache(maxsize=1)
def _jinja():
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(autoescape=False, undefined=StrictUndefined, keep_trailing_newline=True)


@functools.lru_cache(maxsize=128)
def _template(text: str):
    from jinja2 import TemplateSyntaxError

    try:
        return _jinja().from_string(text)
    except TemplateSyntaxError as exc:
        raise PromptFileError(f"prompt template line {exc.lineno}: {exc.message}") from exc


def _fill(template: str, values: dict[str, str]) -> str:
    """Render ``template`` once with ``values`` as data (no re-expansion of their text).

    Raises:
        PromptFileError: for a template syntax error or a placeholder with no value.
    """
    from jinja2 import UndefinedError

    try:
        return _template(template).render(**values)
    except UndefinedError as exc:
        raise PromptFileError(f"prompt template: {exc.message} (known: {', '.join(sorted(values))})") from exc


#: Instruction lines shorter than this are not used as echo markers (too common to tell).
_MIN_MARKER_CHARS = 40


@functools.lru_cache(maxsize=256)
def _instruction_markers(text: str) -> tuple[str, ...]:
    lines = []
    for line in text.splitlines():
        line = line.strip().lstrip("-* ").strip()
        if len(line) >= _MIN_MARKER_CHARS and "{" not in line:
            lines.append(line)
    return tuple(lines)


def echo_markers(messages: list[dict[str, str]]) -> tuple[str, ...]:
    """What an answer to ``messages`` may not contain: the data-block delimiters (also
    JSON-escaped) and every instruction line of the prompt outside its data block."""
    markers = [f"<{tag}>" for tag in (LISTING_TAG, PROFILE_TAG)]
    markers += [f"</{tag}>" for tag in (LISTING_TAG, PROFILE_TAG)]
    markers += [f"\\u003c/{tag}" for tag in (LISTING_TAG, PROFILE_TAG)]
    for message in messages:
        if message.get("role") == "assistant":
            continue
        content = re.sub(r"<(listing_data|profile_data)>.*?</\1>", "", message.get("content") or "", flags=re.DOTALL)
        markers.extend(_instruction_markers(content))
    return tuple(markers)


def _glossary_text(glossary: dict[str, str]) -> str:
    if not glossary:
        return "(none)"
    return "\n".join(f"- {src} -> {dst}" for src, dst in sorted(glossary.items()))


def render_profile_messages(
    listing: NormalizedListing, config: PromptConfig, description: str | None = None
) -> list[dict[str, str]]:
    """Chat messages asking for a :class:`DogProfile` of ``listing``.

    Returns ``[{"role": "system", ...}, {"role": "user", ...}]``; the user message holds the
    JSON schema of the profile and the listing data block.
    """
    schema = schema_json(DogProfile)
    user = _fill(
        config.profile_prompt,
        {
            "listing": render_data_block(LISTING_TAG, listing_facts(listing, description)),
            "schema": schema,
            "glossary": _glossary_text(config.glossary),
            "cliches": ", ".join(f'"{c}"' for c in config.cliches) or "(none)",
        },
    )
    return [
        {"role": "system", "content": config.system_prompt.strip()},
        {"role": "user", "content": user.strip()},
    ]


def render_translation_messages(
    profile: DogProfile, listing: NormalizedListing, target_language: str, config: PromptConfig
) -> list[dict[str, str]]:
    """Chat messages asking for a :class:`TranslatedProfileText` in ``target_language``.

    The profile data block carries the text to translate, the structured fields (so a
    template translator can render from them), the dog's name and the target language.
    """
    payload = {
        "target_language": target_language,
        "name": listing.name,
        "source_language": listing.language,
        "profile": profile.model_dump(exclude={"confidence_scores", "source_references"}),
        "listing": {k: v for k, v in listing_facts(listing).items() if k != "description"},
    }
    user = _fill(
        config.translation_prompt,
        {
            "profile": render_data_block(PROFILE_TAG, payload),
            "target_language": target_language,
            "glossary": _glossary_text(config.glossary),
        },
    )
    return [
        {"role": "system", "content": config.system_prompt.strip()},
        {"role": "user", "content": user.strip()},
    ]
