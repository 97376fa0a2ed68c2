"""Keyword prefilters for regular expressions: skip a costly search on text that cannot match.

Python's ``re`` tries every alternative of a pattern at every position, so a search of a
long text with many alternatives is slow even when nothing matches (25 contact-line
patterns: about 1.3 s per MB). :func:`required_keywords` derives, from the pattern itself,
literals of which every match contains at least one; text (folded with :func:`fold`) that
contains none of them cannot match, and a plain ``in`` test (C speed) decides that.
Used by the offline model's rules and the grounding contact-line filter.
"""

from __future__ import annotations

import re
from typing import Any

# Characters that ``re.IGNORECASE`` matches to an ASCII letter but ``str.casefold`` does
# not fold to it: the dotted and dotless I.
_FOLD_FIXES = str.maketrans({"\u0130": "i", "\u0131": "i"})


def fold(text: str) -> str:
    """``text`` folded so that a case-insensitive ``re`` match of a keyword in it is a
    substring of ``fold(text)``: casefolded, with İ/ı as i (ſ and the Kelvin sign are
    folded by ``casefold`` itself)."""
    return text.translate(_FOLD_FIXES).casefold()


def required_keywords(pattern: str, min_length: int = 2) -> frozenset[str] | None:
    """Literals (case-folded) at least one of which every match of ``pattern`` contains.

    Derived from the parse tree of ``re`` (``re._parser``, CPython 3.11-3.13): a sequence
    needs each of its required parts, so its best part is kept; an alternation needs one
    literal of each branch. Anything not understood yields None (no prefilter, still
    correct), and so does a shortest literal under ``min_length`` characters (too common
    to filter anything).
    """
    try:
        from re import _constants as sre, _parser as parser
    except ImportError:  # pragma: no cover - another Python: no prefilter
        return None
    repeats = {sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", sre.MAX_REPEAT)}

    def sequence(items: Any) -> set[str] | None:
        candidates: list[set[str]] = []
        run: list[str] = []
        for op, av in list(items) + [(None, None)]:
            if op is sre.LITERAL:
                run.append(chr(av))
                continue
            if run:
                candidates.append({"".join(run)})
                run = []
            sub: set[str] | None = None
            if op is sre.SUBPATTERN:
                sub = sequence(av[-1])
            elif op is getattr(sre, "ATOMIC_GROUP", object()):
                sub = sequence(av)
            elif op is sre.BRANCH:
                branches = [sequence(b) for b in av[1]]
                if branches and all(branches):
                    sub = set().union(*branches)  # type: ignore[arg-type]
            elif op in repeats and av[0] >= 1:
                sub = sequence(av[2])
            if sub:
                candidates.append(sub)
        if not candidates:
            return None
        return max(candidates, key=lambda c: (min(len(k) for k in c), -len(c)))

    try:
        found = sequence(parser.parse(pattern, re.IGNORECASE))
    except Exception:  # pragma: no cover - a parser change: no prefilter
        return None
    if not found or min(len(k) for k in found) < min_length:
        return None
    return frozenset(k.casefold() for k in found)
