"""The one vocabulary: a data file per language, read by every part that reads words.

``<lang>.yaml`` (ISO 639-1 stem: ``en.yaml``, ``de.yaml``) holds a language's words for the
normalizer (``normalizer``, ``missing_words``, ``booleans``), the stated-facts parser,
grounding and the sentence splitter (``sentences``, ``grounding``), the offline model
(``offline_model``), the hallucination rules and the quality rubric (``rubric``);
``breeds.yaml`` holds breed names (FCI nomenclature plus colloquial names) and
``shared.yaml`` the language-independent tables (serialized nulls, "not known" symbols,
boolean spellings, the e-mail pattern, null-word and placeholder patterns). Adding a
language is adding a ``<lang>.yaml`` file: every reader merges all language files (or
picks one by language code) through this module.

Readers compile what they need once (:func:`cached`); :func:`use_directory` points every
reader at another folder (e.g. the packaged files plus a new language) and drops what
was compiled. :func:`missing_words` / :func:`is_missing` are the one answer to "does this
value state nothing?".

Merging (:func:`merged`): files are read in name order; mappings merge key by key, lists
are concatenated (duplicates dropped), a scalar of a later file replaces an earlier one.
Term syntax inside the files is documented at the top of ``en.yaml``.

:func:`fold` is the one comparison form of text (NFKC, straight quotes and dashes, case
folded, transliterations from the lexicons' ``transliterate`` tables such as ``ä`` ->
``ae``, whitespace collapsed); :func:`umlaut_tolerant` turns a regex written with umlauts
into one that also matches the transliterated spelling, on unfolded text.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "LEXICON_DIR",
    "language_files",
    "languages",
    "load_language",
    "merged",
    "data_file",
    "lookup",
    "fold",
    "transliteration",
    "umlaut_tolerant",
    "term_regex",
    "compile_terms",
    "directory",
    "use_directory",
    "cached",
    "shared",
    "words",
    "mapping",
    "null_words",
    "missing_words",
    "is_missing",
]

LEXICON_DIR = Path(__file__).resolve().parent
"""Folder of the packaged vocabulary files."""

_ACTIVE_DIR: list[Path] = [LEXICON_DIR]
_CONSUMER_CACHES: list[Any] = []


def directory() -> Path:
    """The folder every reader uses now: :data:`LEXICON_DIR` unless :func:`use_directory`
    chose another."""
    return _ACTIVE_DIR[0]


def cached(function):
    """``functools.cache`` for a reader's compiled vocabulary, dropped by
    :func:`use_directory` (so a switched folder, e.g. one with an extra language, takes
    effect without a restart)."""
    wrapped = functools.cache(function)
    _CONSUMER_CACHES.append(wrapped)
    return wrapped


def use_directory(path: Path | None = None) -> None:
    """Make every reader use the vocabulary files of ``path`` (``None``: the packaged
    :data:`LEXICON_DIR`), dropping what was compiled from the previous folder.

    The folder holds ``<lang>.yaml`` files plus the shared ``breeds.yaml`` and
    ``shared.yaml`` (a folder without them falls back to the packaged ones). For a
    deployment that keeps extra languages outside the package, and for tests.

    Raises:
        FileNotFoundError: when ``path`` holds no language file (checked now).
        ValueError: a malformed file, see :func:`load_language`.
    """
    target = Path(path) if path is not None else LEXICON_DIR
    merged(target)
    _ACTIVE_DIR[0] = target
    for cache in (*_CONSUMER_CACHES, transliteration, _fold_table, fold, _null_words,
                  _missing_words):
        cache.cache_clear()

_LANGUAGE_STEM = re.compile(r"[a-z]{2,3}")
# libyaml's safe loader when PyYAML was built with it (about 10x faster), else PyYAML's own.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def language_files(directory: Path | None = None) -> list[Path]:
    """The language files (``<iso 639 code>.yaml``) of ``directory`` (``None``: the active
    folder, :func:`directory`), in name order."""
    directory = directory or _ACTIVE_DIR[0]
    return sorted(p for p in Path(directory).glob("*.yaml") if _LANGUAGE_STEM.fullmatch(p.stem))


def languages(directory: Path | None = None) -> tuple[str, ...]:
    """Codes of the languages that have a vocabulary file (``("de", "en")``)."""
    return tuple(p.stem for p in language_files(directory))


def _read(path: Path) -> dict[str, Any]:
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: top level must be a mapping")
    _check_terms(data, path.name)
    return data


def _check_terms(node: Any, where: str) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if not isinstance(key, str):
                raise ValueError(f"{where}: key {key!r} is not a string (quote it in YAML)")
            _check_terms(value, f"{where}:{key}")
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, (dict, list)):
                _check_terms(item, where)
            elif not isinstance(item, str):
                raise ValueError(f"{where}: term {item!r} is not a string (quote it in YAML)")


def merge(base: Any, extra: Any) -> Any:
    """``extra`` merged into ``base``: mappings key by key, lists concatenated without
    duplicates, anything else replaced by ``extra``."""
    if isinstance(base, dict) and isinstance(extra, dict):
        out = dict(base)
        for key, value in extra.items():
            out[key] = merge(out[key], value) if key in out else value
        return out
    if isinstance(base, list) and isinstance(extra, list):
        return base + [v for v in extra if v not in base]
    return extra


def load_language(language: str, directory: Path | None = None) -> dict[str, Any]:
    """The vocabulary of one language (``{}`` when it has no file); ``directory`` ``None``
    is the active folder.

    Raises:
        ValueError: when the file is not a YAML mapping or a term list holds a non-string
            (an unquoted ``yes``/``no``/``null`` that YAML read as a bool or None).
    """
    return _load_language(language, Path(directory or _ACTIVE_DIR[0]))


@functools.cache
def _load_language(language: str, directory: Path) -> dict[str, Any]:
    path = directory / f"{language}.yaml"
    return _read(path) if path.exists() else {}


def merged(directory: Path | None = None) -> dict[str, Any]:
    """Every language file of ``directory`` (``None``: the active folder) merged into one
    mapping (cached per folder).

    Raises:
        FileNotFoundError: when ``directory`` holds no language file.
        ValueError: a malformed file, see :func:`load_language`.
    """
    return _merged(Path(directory or _ACTIVE_DIR[0]))


@functools.cache
def _merged(directory: Path) -> dict[str, Any]:
    files = language_files(directory)
    if not files:
        raise FileNotFoundError(f"no vocabulary files (<lang>.yaml) in {directory}")
    out: dict[str, Any] = {}
    for path in files:
        out = merge(out, _read(path))
    return out


def data_file(name: str, directory: Path | None = None) -> dict[str, Any]:
    """A shared (not per-language) data file of the lexicon, e.g. ``"breeds"``, from
    ``directory`` (``None``: the active folder; a folder without the file falls back to
    the packaged one).

    Raises:
        FileNotFoundError: when ``<directory>/<name>.yaml`` does not exist.
    """
    return _data_file(name, Path(directory or _ACTIVE_DIR[0]))


@functools.cache
def _data_file(name: str, directory: Path) -> dict[str, Any]:
    path = directory / f"{name}.yaml"
    if not path.exists() and (LEXICON_DIR / f"{name}.yaml").exists():
        path = LEXICON_DIR / f"{name}.yaml"
    return _read(path)


def lookup(*path: str, language: str | None = None, directory: Path | None = None) -> Any:
    """The node at ``path`` of one language's vocabulary, or of all merged (``None``).

    Returns ``None`` when a key on the path is missing.
    """
    node: Any = merged(directory) if language is None else load_language(language, directory)
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


# ---------------------------------------------------------------------------------------
# Folding
# ---------------------------------------------------------------------------------------

_QUOTE_CHARS = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'",
                              "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"',
                              "\u00bb": '"', "\u2013": "-", "\u2014": "-", "\u2010": "-",
                              "\u2011": "-", "\u00a0": " ", "`": "'", "\u00b4": "'"})
_SPACE_RE = re.compile(r"\s+")
_SPACE_BEFORE_PUNCT_RE = re.compile(r"\s+(?=[,.;:!?)])")


@functools.cache
def transliteration(directory: Path | None = None) -> dict[str, str]:
    """Lower-case letter -> spelling without it, from every language's ``transliterate``
    table (German: ``ä`` -> ``ae``, ``ß`` -> ``ss``)."""
    table = merged(directory).get("transliterate") or {}
    return {str(k): str(v) for k, v in table.items()}


@functools.cache
def _fold_table(directory: Path | None = None) -> dict[int, str]:
    return str.maketrans(transliteration(directory))


@functools.lru_cache(maxsize=16384)
def fold(text: str) -> str:
    """``text`` for comparison: NFKC, curly quotes and dashes straight, case folded,
    transliterated (``ä/ö/ü/ß`` as ``ae/oe/ue/ss``), whitespace runs as one space (none
    before ``,.;:!?)``), stripped. ``None`` or ``""`` gives ``""``."""
    text = unicodedata.normalize("NFKC", text or "").translate(_QUOTE_CHARS).casefold()
    text = text.translate(_fold_table())
    text = _SPACE_RE.sub(" ", text)
    return _SPACE_BEFORE_PUNCT_RE.sub("", text).strip()


def umlaut_tolerant(pattern: str) -> str:
    """``pattern`` with each transliterated letter also matching its spelling
    (``ä`` -> ``(?:ä|ae)``), for case-insensitive matching on unfolded text. Letters inside
    a ``[character class]`` are left alone."""
    table = transliteration()
    out: list[str] = []
    depth = 0
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if ch == "[":
            depth += 1
        elif ch == "]" and depth:
            depth -= 1
        low = ch.lower()
        if depth == 0 and low in table:
            out.append(f"(?:{re.escape(ch)}|{re.escape(table[low])})")
        else:
            out.append(ch)
        i += 1
    return "".join(out)


# ---------------------------------------------------------------------------------------
# Terms
# ---------------------------------------------------------------------------------------


def term_regex(term: str) -> str:
    """The regex of one vocabulary term, for :func:`fold`-ed text.

    Syntax (see the top of ``en.yaml``): plain words match whole words, a space matches
    any run of spaces or hyphens, a ``-`` an optional hyphen or space; ``word*`` is a
    prefix, ``*word`` a suffix; ``re:<regex>`` is a raw regex (umlauts transliterated).
    """
    if term.startswith("re:"):
        return term[3:].translate(_fold_table())
    folded = fold(term)
    if not folded:
        return r"(?!x)x"
    suffix = folded.startswith("*")
    prefix = folded.endswith("*") and len(folded) > 1
    core = folded.strip("*")
    pieces = []
    for token in re.split(r"(\s+|-)", core):
        if not token:
            continue
        if token.isspace():
            pieces.append(r"[\s-]+")
        elif token == "-":
            pieces.append(r"[\s-]?")
        else:
            pieces.append(re.escape(token))
    body = "".join(pieces)
    left = r"(?<!\w)\w*" if suffix else r"(?<!\w)"
    right = r"\w*" if prefix else r"(?!\w)"
    return f"{left}{body}{right}"


def compile_terms(terms) -> re.Pattern[str]:
    """One case-insensitive pattern (for folded text) matching any of ``terms``; longest
    terms first, so an alternation prefers "pit bull terrier" over "terrier". No terms:
    a pattern that never matches. Cached per set of terms (the rules build some of theirs
    per call: building one costs a regex per term), dropped by :func:`use_directory`."""
    return _compiled_terms(tuple(sorted(set(terms), key=lambda t: (-len(t), t))))


@functools.lru_cache(maxsize=4096)
def _compiled_terms(unique: tuple[str, ...]) -> re.Pattern[str]:
    if not unique:
        return re.compile(r"(?!x)x")
    return re.compile("|".join(f"(?:{term_regex(t)})" for t in unique), re.IGNORECASE)


_CONSUMER_CACHES.append(_compiled_terms)


# ---------------------------------------------------------------------------------------
# Word lists and tables
# ---------------------------------------------------------------------------------------


def shared(*path: str) -> Any:
    """The node at ``path`` of ``shared.yaml``: the language-independent tables (serialized
    nulls, symbols that mean "not known", yes/no spellings of booleans). ``None`` when a
    key on the path is missing."""
    node: Any = data_file("shared")
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def words(*path: str, language: str | None = None) -> list[str]:
    """The strings of the list at ``path``, of one language or of all merged (in file
    order, duplicates dropped); ``[]`` when no file has it.

    Raises:
        TypeError: when the node at ``path`` is not a list.
    """
    node = lookup(*path, language=language)
    if node is None:
        return []
    if not isinstance(node, list):
        raise TypeError(f"lexicon {'.'.join(path)}: expected a list, got {type(node).__name__}")
    return list(node)


def mapping(*path: str, language: str | None = None) -> dict[str, Any]:
    """The mapping at ``path``, of one language or of all merged (later files win on a
    key both have); ``{}`` when no file has it.

    Raises:
        TypeError: when the node at ``path`` is not a mapping.
    """
    node = lookup(*path, language=language)
    if node is None:
        return {}
    if not isinstance(node, dict):
        raise TypeError(f"lexicon {'.'.join(path)}: expected a mapping, got {type(node).__name__}")
    return dict(node)


@functools.cache
def _null_words(directory: Path) -> frozenset[str]:
    return frozenset(str(w).casefold() for w in shared("null_words") or [])


def null_words() -> frozenset[str]:
    """What a serialized missing value leaves behind (``none``, ``nan``, ``null``,
    ``undefined``; lower case, from ``shared.yaml``): a value that is only one of these is
    no value, in any language."""
    return _null_words(_ACTIVE_DIR[0])


@functools.cache
def _missing_words(directory: Path) -> frozenset[str]:
    found = set(null_words()) | {str(w).casefold() for w in shared("missing_symbols") or []}
    found |= {w.casefold() for w in words("missing_words")}
    return frozenset(found)


def missing_words() -> frozenset[str]:
    """Whole values that state nothing (lower case): :func:`null_words`, the symbols of
    ``shared.yaml`` (``-``, ``?``) and every language's ``missing_words`` ("unknown",
    "n/a", "unbekannt", "k.a.", "keine angabe", ...). The one answer to "is this value
    missing?" for normalizer, prompts, offline model and rubric."""
    return _missing_words(_ACTIVE_DIR[0])


def is_missing(value: Any) -> bool:
    """True for ``None``, a float NaN, and a string that is empty or, stripped and case
    folded, one of :func:`missing_words`."""
    if value is None:
        return True
    if isinstance(value, float) and value != value:
        return True
    if isinstance(value, str):
        key = value.strip().casefold()
        return not key or key in missing_words()
    return False
