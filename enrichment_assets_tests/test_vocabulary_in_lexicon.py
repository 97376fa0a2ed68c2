"""The vocabulary lives in enrichment_assets/lexicon, and a new language is a new file.

Two guarantees of issue 8 ("One vocabulary"):

* No long literal word list in the pure code: an AST scan of ``domain/``, ``llm/`` and
  ``pipeline/`` fails on a set, list, tuple or dict-key literal of :data:`MIN_WORDS` or
  more words, and on a regex literal with a group of :data:`MIN_WORDS` or more plain-word
  alternatives (``(?:but|however|aber|...)``). Schema names (pydantic fields and their
  literal values, database columns, rule names) are no words. :data:`ALLOWED` lists, with
  a reason, what is still there.
* A synthetic extra language file (Dutch, written here) in a copy of the lexicon folder is
  picked up by the normalizer, the grounding filters, the rubric, the offline model and the
  rules without a code change.
"""

from __future__ import annotations

import ast
import inspect
import re
import shutil
import subprocess
import sys
import textwrap
import typing
from pathlib import Path

import pydantic
import pytest

from enrichment_assets import lexicon

PACKAGE = Path(lexicon.__file__).resolve().parents[1]
SCANNED = ("domain", "llm", "pipeline")
MIN_WORDS = 6

#: (module path, first three words) -> why the list is still in code. Lists inside the
#: modules another change owns (facts, compatibility, hallucination, instructions) are
#: listed for moving, not moved here.
ALLOWED: dict[tuple[str, tuple[str, ...]], str] = {
    # not vocabulary: schema values, ids, keys, codes
    ("domain/hallucination.py", ("cats", "dogs", "children")): "topic ids of the rules (lexicon section keys)",
    ("domain/hallucination.py", ("es", "pt", "gl")): "ISO 639 codes the language detector confuses",
    ("llm/offline.py", ("traits", "activities", "medical")): "keys of the compiled lexicon tables",
    ("llm/offline.py", ("keywords", "index", "always")): "keys of the compiled lexicon tables",
    ("pipeline/status.py", ("listings", "published", "profiled")): "column names of the status summary",
    ("pipeline/status.py", ("listings", "eligible", "published")): "keys of the status summary (enrichment status --json)",
    ("pipeline/freshness.py", ("settings", "model", "normalizer")): "keys of the run-fingerprint document",
    ("llm/client.py", ("not supported", "unsupported", "invalid")):
        "phrases of provider error messages (English API text), not listing vocabulary",
    # vocabulary in the modules another change owns (facts, compatibility, hallucination,
    # instructions): to move to the lexicon there, listed here until then
    ("domain/compatibility.py", ("but", "however", "although")): "clause breaks",
    ("domain/compatibility.py", ("and", "or", "und")): "conjunctions",
    ("domain/compatibility.py", ("no", "without", "nor")): "absence words",
    ("domain/compatibility.py", ("is", "was", "ist")): "identity verbs",
    ("domain/compatibility.py", ("a", "an", "ein")): "articles",
    ("domain/compatibility.py", ("the", "her", "his")): "determiners",
    ("domain/compatibility.py", ("other", "the", "die")): "determiners",
    ("domain/compatibility.py", ("not", "no ", "nicht")): "negator prefixes",
    ("domain/facts.py", ("ca", "circa", "etwa")): "approximation words",
    ("domain/facts.py", ("approx", "ca", "est")): "abbreviations (lexicon sentences.abbreviations exists)",
    ("domain/hallucination.py", ("none", "null", "nan")): "missing words (lexicon.missing_words exists)",
    ("domain/hallucination.py", ("but", "however", "although")): "clause breaks",
    ("domain/hallucination.py", ("companion", "friend", "buddy")): "companion words",
    ("domain/hallucination.py", ("mix", "mixed", "cross")): "breed suffix words (lexicon normalizer.mix exists)",
    ("domain/hallucination.py", ("friend", "buddy", "pal")): "companion words",
    ("domain/hallucination.py", ("mate", "friend", "buddy")): "companion words",
    ("domain/hallucination.py", ("eur", "usd", "gbp")): "currency words (lexicon units.kinds.money exists)",
    ("domain/hallucination.py", ("people", "training", "handling")): "words after an experience level",
    ("domain/hallucination.py", ("indoors", "inside", "in the house")): "calm-indoors words",
    ("domain/hallucination.py", ("who", "which", "that")): "clause starters after a number",
}

_WORD = re.compile(r"[^\W\d_][\w' ./-]*")
_SNAKE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)+")
_GROUP = re.compile(r"\((?:\?:)?([^()]*)\)")
_PLAIN_WORD = re.compile(r"[^\W\d_]+(?:(?:\\s[+*]?|-|\s)[^\W\d_]+)*")


def _schema_names() -> set[str]:
    """Field names and literal values of the project's pydantic models, database column
    names and rule names: identifiers of the schema, not vocabulary."""
    import enrichment_assets.domain.contract as contract
    import enrichment_assets.domain.hallucination as hallucination
    import enrichment_assets.domain.models as models
    import enrichment_assets.llm.prompts as prompts
    from enrichment_assets.storage import schema

    names: set[str] = set(hallucination.RULES)
    for module in (models, contract, prompts):
        for obj in vars(module).values():
            if inspect.isclass(obj) and issubclass(obj, pydantic.BaseModel):
                for name, field in obj.model_fields.items():
                    names.add(name)
                    for arg in typing.get_args(field.annotation) or ():
                        names.update(a for a in typing.get_args(arg) if isinstance(a, str))
                        if isinstance(arg, str):
                            names.add(arg)
    for table in schema.metadata.tables.values():
        names.update(c.name for c in table.columns)
    return names


def _words(strings: list[str], schema: set[str]) -> list[str]:
    return [s for s in strings if _WORD.fullmatch(s) and not _SNAKE.fullmatch(s) and s not in schema]


def _literal_word_lists(path: Path, schema: set[str]) -> list[tuple[int, list[str]]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    exported = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)}
    found = []
    for node in ast.walk(tree):
        if id(node) in exported:
            continue
        if isinstance(node, (ast.Set, ast.List, ast.Tuple)):
            elements = node.elts
        elif isinstance(node, ast.Dict):
            elements = [k for k in node.keys if k is not None]
        else:
            elements = []
        strings = [e.value for e in elements if isinstance(e, ast.Constant) and isinstance(e.value, str)]
        words = _words(strings, schema)
        if len(words) >= MIN_WORDS:
            found.append((node.lineno, words))
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            for group in _GROUP.finditer(node.value):
                alternatives = [a.replace("\\b", "") for a in group.group(1).split("|")]
                plain = [a for a in alternatives if _PLAIN_WORD.fullmatch(a)]
                if len(plain) >= MIN_WORDS:
                    found.append((node.lineno, plain))
    return found


def test_no_long_word_list_outside_the_lexicon() -> None:
    schema = _schema_names()
    offenders, used = [], set()
    for folder in SCANNED:
        for path in sorted((PACKAGE / folder).rglob("*.py")):
            rel = path.relative_to(PACKAGE).as_posix()
            for line, words in _literal_word_lists(path, schema):
                key = (rel, tuple(words[:3]))
                if key in ALLOWED:
                    used.add(key)
                else:
                    offenders.append(f"{rel}:{line}: {words[:8]}")
    assert not offenders, ("word lists belong in enrichment_assets/lexicon/<lang>.yaml "
                           "(or shared.yaml):\n" + "\n".join(offenders))
    assert not set(ALLOWED) - used, f"stale ALLOWED entries: {sorted(set(ALLOWED) - used)}"


def test_the_scan_finds_a_planted_word_list(tmp_path: Path) -> None:
    # the scan itself can fail: a planted set, dict and regex alternation are all found
    planted = tmp_path / "planted.py"
    planted.write_text(textwrap.dedent('''
        UNKNOWN = {"unknown", "unbekannt", "n/a", "k.a.", "keine angabe", "desconocido", "inconnu"}
        SIZES = {"klein": "small", "mittel": "medium", "groß": "large", "riesig": "xlarge",
                 "winzig": "small", "mini": "small"}
        BREAK = r"\\s+(?:but|however|aber|jedoch|doch|sondern)\\s+"
        FIELDS = ("name", "breed", "sex", "size", "location", "species")
    '''), encoding="utf-8")
    found = _literal_word_lists(planted, _schema_names())
    assert [line for line, _ in found] == [2, 3, 5]


# ---------------------------------------------------------------------------------------
# A new language is a new file
# ---------------------------------------------------------------------------------------

DUTCH = """
missing_words: [onbekend, niet bekend]
booleans:
  'yes': [ja]
  'no': [nee]
normalizer:
  species:
    dog: [hond, honden, pup]
    cat: [kat, katten]
  sex:
    male: [reu, mannelijk]
    female: [teef, vrouwelijk]
  size:
    small: [klein]
    large: [groot]
  age_units:
    'y': [jaar, jaren]
    m: [maand, maanden]
  status_regexes:
    neutered:
      'yes': ['\\bgecastreerd\\b', '\\bgesteriliseerd\\b']
      'no': ['\\bniet\\s+gecastreerd\\b']
  status_blocker_regexes: ['\\bwordt\\b']
  clause_breaks: [maar]
sentences:
  abbreviations: [bijv., ong.]
grounding:
  contact_regexes: ['\\bbel\\s+ons\\b']
rubric:
  support_cues:
    good_with_cats: ['\\bkatten?\\b']
offline_model:
  profile:
    energy_level:
      high: ['\\bvol\\s+energie\\b']
  traits:
    playful: ['\\bspeels\\w*']
  negators: [niet, geen]
  templates: {}
"""


@pytest.fixture
def dutch_lexicon(tmp_path: Path):
    """A copy of the packaged lexicon plus ``nl.yaml``, made the active folder."""
    for path in lexicon.LEXICON_DIR.glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    (tmp_path / "nl.yaml").write_text(DUTCH, encoding="utf-8")
    lexicon.use_directory(tmp_path)
    try:
        yield tmp_path
    finally:
        lexicon.use_directory(None)


def test_a_new_language_file_reaches_the_normalizer(dutch_lexicon: Path) -> None:
    from enrichment_assets.domain import normalize

    assert "nl" in lexicon.languages()
    assert normalize.parse_species("Hond") == "dog"
    assert normalize.parse_sex("reu") == "male" and normalize.parse_sex("Teef") == "female"
    assert normalize.parse_size("groot") == "large"
    assert normalize.parse_age_text("3 jaar") == (36, False)
    assert normalize.parse_breed("onbekend") == (None, None)
    assert normalize.status_from_text("Hij is gecastreerd.", "neutered") == "yes"
    assert normalize.status_from_text("Hij is niet gecastreerd.", "neutered") == "no"
    assert normalize.status_from_text("Hij wordt gecastreerd.", "neutered") == "unknown"
    # the packaged languages still work beside it
    assert normalize.parse_species("Hündin") == "dog" and normalize.parse_sex("female") == "female"


def test_a_new_language_file_reaches_grounding_rubric_and_offline_model(dutch_lexicon: Path) -> None:
    from enrichment_assets.domain import grounding, quality
    from enrichment_assets.llm import offline

    assert grounding.split_sentences("Hij is ong. Drie jaar oud. Hij speelt.") == [
        "Hij is ong. Drie jaar oud.", "Hij speelt."]
    assert grounding.is_contact_line("Interesse? Bel ons vandaag.")
    assert "good_with_cats" in quality.support_cues() and quality.support_cues()["good_with_cats"].search("twee katten")
    profile = offline.profile_from_facts({"name": "Bram", "description": "Bram is speels en vol energie."})
    assert profile.personality_traits == ["playful"] and profile.energy_level == "high"
    assert profile.source_references["energy_level"] == "Bram is speels en vol energie."
    negated = offline.profile_from_facts({"name": "Bram", "description": "Bram is niet speels."})
    assert negated.personality_traits == []


def test_without_the_file_the_language_is_unknown() -> None:
    from enrichment_assets.domain import normalize
    from enrichment_assets.llm import offline

    assert "nl" not in lexicon.languages()
    assert normalize.parse_species("Hond") == "unknown"
    assert offline.profile_from_facts({"name": "Bram", "description": "Bram is speels."}).personality_traits == []


def test_a_new_language_file_reaches_the_rules_in_a_fresh_process(tmp_path: Path) -> None:
    # the stated-facts parser and the compatibility rules read the lexicon at first use: a
    # process that points the lexicon at a folder with nl.yaml reads Dutch fact blocks
    for path in lexicon.LEXICON_DIR.glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    (tmp_path / "nl.yaml").write_text(DUTCH + textwrap.dedent("""
        stated_facts:
          labels:
            good_with_cats: [Katten, Met katten]
            neutered: [Gecastreerd]
          values:
            'yes': [ja]
            'no': [nee, nog niet]
            unknown: [onbekend, niet getest]
    """), encoding="utf-8")
    script = textwrap.dedent(f"""
        from pathlib import Path
        from enrichment_assets import lexicon
        lexicon.use_directory(Path({str(tmp_path)!r}))
        from enrichment_assets.domain.facts import parse_stated_facts
        facts = {{f.field: f.value for f in parse_stated_facts(
            "Geslacht: reu\\nKatten: nee\\nGecastreerd: nog niet", "nl")}}
        print(facts.get("good_with_cats"), facts.get("neutered"))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600,
                         cwd=PACKAGE.parent)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["no", "no"]


def test_one_answer_to_is_this_value_missing() -> None:
    # the normalizer, the offline model and the rubric read the same missing words (one
    # set instead of six); the prompt drops the serialized nulls among them
    from enrichment_assets.domain import normalize, quality
    from enrichment_assets.llm import offline, prompts

    words = lexicon.missing_words()
    assert {"unknown", "unbekannt", "k.a.", "n/a", "-", "?", "none", "nan", "null", "undefined"} <= words
    for word in sorted(words):
        for spelling in (word, word.upper(), f"  {word} "):
            assert lexicon.is_missing(spelling)
            assert normalize.parse_breed(spelling) == (None, None), spelling
            assert normalize.parse_species(spelling) == "unknown", spelling
            assert not offline._present(spelling), spelling
            assert not quality._is_filled(spelling), spelling
    for null in lexicon.null_words():
        assert not prompts._present(null.capitalize())
    assert prompts._present("Unbekannt Street 1") and not lexicon.is_missing("Bello")
