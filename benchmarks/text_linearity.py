"""Seconds per MB of description for the grounding and sentence-splitting code.

Usage: ``.venv/bin/python benchmarks/text_linearity.py [--sizes 16384,1048576,4194304]``

For each text shape (hostile ones included: one long word, a long run of full stops,
stops followed by tabs, many abbreviations in one sentence, a long whitespace run inside a
contact line) and each size, it times

* ``grounding.split_sentences``,
* ``grounding.assess_source`` (sentence spans, boilerplate, contact-line filter),
* ``offline.split_sentences`` (since issue 8 the same function as
  ``grounding.sentence_spans``: the project has one splitter; kept as its own row),
* the profile stage's text processing for one listing: ``assess_source`` +
  ``render_profile_messages`` (what ``pipeline/profiles.py`` does before a model call),

and prints seconds and seconds per MB. Linear code has about the same seconds per MB at
every size. Exit code 1 when the profile-stage text processing of a 4 MB description takes
5 s or more (issue 9's acceptance), or when seconds per MB at the largest size exceed
3x those at 1 MB (growth worse than linear); else 0.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from enrichment_assets.domain import grounding  # noqa: E402
from enrichment_assets.domain.models import NormalizedListing  # noqa: E402
from enrichment_assets.llm import offline  # noqa: E402
from enrichment_assets.llm.prompts import load_prompt_config, render_profile_messages  # noqa: E402

MB = 1024 * 1024
PROSE = ("Bello ist ca. 3 Jahre alt und z.B. sehr verschmust. Er kam am 25. September zu uns. "
         "He loves walks, e.g. in the park! Is he good with cats? Yes. Contact: 0176 1234567 or "
         "bello.owner@example.org. Im 3. Lebensjahr wurde er kastriert... Dr. Smith says hi. ")
SHAPES: dict[str, Callable[[int], str]] = {
    "prose": lambda n: (PROSE * (n // len(PROSE) + 1))[:n],
    "one long word": lambda n: "a" * n,
    "long word before @": lambda n: "x" * (n - 20) + "@example",
    "run of full stops": lambda n: "Bello" + "." * (n - 10) + "Luna",
    "stops and tabs": lambda n: ("Wort.\tWort.\t" * (n // 12 + 1))[:n],
    "abbreviations, one sentence": lambda n: ("ca. z.B. bzw. e.g. " * (n // 19 + 1))[:n],
    "whitespace run in a contact line": lambda n: "pls call me " + " " * (n - 30) + "x - y 3) z",
    "digits and spaces": lambda n: ("1 " * (n // 2))[:n] + "x",
}


def _listing(text: str) -> NormalizedListing:
    return NormalizedListing(
        organization="bench", external_id="b1", name="Bello", species="dog", description=text,
        language="de", content_hash=hashlib.sha256(text.encode()).hexdigest())


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=f"{16 * 1024},{MB},{4 * MB}",
                        help="comma-separated description sizes in characters")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    config = load_prompt_config("bench")
    functions: dict[str, Callable[[str], object]] = {
        "grounding.split_sentences": grounding.split_sentences,
        "grounding.assess_source": lambda t: grounding.assess_source(_listing(t), [], 150),
        "offline.split_sentences": offline.split_sentences,
        "profile stage text": lambda t: render_profile_messages(
            _listing(t), config, description=grounding.assess_source(_listing(t), [], 150).usable_text),
    }
    print(f"{'function':28} {'shape':34} " + " ".join(f"{_size(n):>18}" for n in sizes))
    failures = []
    for fname, fn in functions.items():
        for shape, make in SHAPES.items():
            cells = []
            per_mb = []
            for n in sizes:
                text = make(n)
                seconds = _timed(lambda: fn(text))
                per_mb.append(seconds / (n / MB))
                cells.append(f"{seconds:7.3f}s {per_mb[-1]:6.2f}s/MB")
                if fname == "profile stage text" and n >= 4 * MB and seconds >= 5:
                    failures.append(f"{fname} on {shape}: {seconds:.1f}s for {_size(n)} (limit 5 s)")
            print(f"{fname:28} {shape:34} " + " ".join(f"{c:>18}" for c in cells))
            if MB in sizes and sizes[-1] > MB:
                base, last = per_mb[sizes.index(MB)], per_mb[-1]
                if last > 3 * base and last > 0.05:
                    failures.append(f"{fname} on {shape}: {last:.2f}s/MB at {_size(sizes[-1])} vs "
                                    f"{base:.2f}s/MB at 1 MB (worse than linear)")
    for failure in failures:
        print("FAIL", failure)
    print("OK: linear, and a 4 MB description is processed in under 5 s" if not failures else
          f"{len(failures)} failure(s)")
    return 1 if failures else 0


def _size(n: int) -> str:
    return f"{n // MB} MB" if n >= MB else f"{n // 1024} KB"


if __name__ == "__main__":
    raise SystemExit(main())
