"""Wikipedia look-alike data for the local fake server: a few articles (one a disambiguation page, one a search hit
deleted before it is fetched) and the MediaWiki action API's JSON for what the `wikipedia` package asks
(`fakes.services` serves it over HTTP).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Article:
    title: str
    pageid: int
    extract: str
    search_text: str = ""
    options: tuple[str, ...] = ()  # a disambiguation page lists these

    @property
    def url(self) -> str:
        return "https://en.wikipedia.org/wiki/" + self.title.replace(" ", "_")


_PYTHON_INTRO = " ".join([
    "Python is a high-level, general-purpose programming language.",
    "Its design philosophy emphasizes code readability with the use of significant indentation.",
    "Python is dynamically type-checked and garbage-collected.",
    "It supports multiple programming paradigms, including structured, object-oriented and functional programming.",
    "It is often described as a batteries-included language due to its comprehensive standard library.",
    "Guido van Rossum began working on Python in the late 1980s as a successor to the ABC programming language.",
    "Python 3.0, released in 2008, was a major revision not completely backward-compatible with earlier versions.",
] * 3)

ARTICLES: tuple[Article, ...] = (
    Article("Oslo", 22309, "Oslo is the capital and most populous city of Norway. It constitutes both a county and "
            "a municipality. The city has a population of about 720,000.", "capital of Norway city"),
    Article("Ada Lovelace", 974, "Augusta Ada King, Countess of Lovelace, was an English mathematician and writer, "
            "chiefly known for her work on Charles Babbage's proposed mechanical general-purpose computer, the "
            "Analytical Engine.", "mathematician first computer programmer Babbage"),
    Article("Python (programming language)", 23862, _PYTHON_INTRO, "python programming language guido"),
    Article("Mercury", 19694, "", "mercury", options=("Mercury (planet)", "Mercury (element)",
                                                      "Mercury (mythology)", "Freddie Mercury")),
    Article("Mercury (planet)", 19000, "Mercury is the first planet from the Sun and the smallest in the Solar "
            "System.", "planet closest to the sun"),
    Article("Mercury (element)", 18617, "Mercury is a chemical element; it has symbol Hg and atomic number 80.",
            "chemical element hg quicksilver"),
    Article("Freddie Mercury", 42068, "Freddie Mercury was a British singer and songwriter who achieved global fame "
            "as the lead vocalist of the rock band Queen.", "queen singer"),
    Article("Eiffel Tower", 9232, "The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, "
            "France.", "paris landmark tower"),
)
# Listed by search but gone when the page is fetched (deleted in between): the tool must move on to the next hit.
GHOST_TITLES = ("Ada Lovelace (deleted draft)",)


def find_article(title: str) -> Article | None:
    return next((a for a in ARTICLES if a.title == title), None)


def search_titles(query: str, limit: int) -> list[str]:
    """Rank like a search engine would, roughly: exact title, title containing the query, all words found."""
    q = query.lower().strip()
    words = q.split()
    scored = []
    for order, title in enumerate([a.title for a in ARTICLES] + list(GHOST_TITLES)):
        article = find_article(title)
        text = f"{title} {article.search_text if article else ''} {article.extract if article else ''}".lower()
        if title.lower() == q:
            score = 3
        elif q in title.lower():
            score = 2 + (0.5 if title in GHOST_TITLES else 0)  # the ghost ranks above the real page
        elif words and all(w in text for w in words):
            score = 1
        else:
            continue
        scored.append((-score, order, title))
    return [title for _, _, title in sorted(scored)[:limit]]


def _disambiguation_html(article: Article) -> str:
    items = "".join(f'<li><a href="/wiki/{o.replace(" ", "_")}" title="{o}">{o}</a>, a meaning</li>'
                    for o in article.options)
    return (f'<div class="mw-parser-output"><p><b>{article.title}</b> may refer to:</p>'
            f'<ul><li class="toclevel-1 tocsection-1"><a href="#Science">Science</a></li></ul>'
            f"<ul>{items}</ul></div>")


def wiki_answer(query: dict[str, str]) -> dict[str, Any]:
    """The MediaWiki action API's JSON for the requests the `wikipedia` package makes."""
    if query.get("format") != "json" or query.get("action", "query") != "query":
        return {"error": {"code": "badvalue", "info": "Only action=query&format=json is served here."}}
    if query.get("list") == "search":
        if not query.get("srsearch"):
            return {"error": {"code": "nosrsearch", "info": 'The "srsearch" parameter must be set.'}}
        titles = search_titles(query["srsearch"], int(query.get("srlimit", 10)))
        return {"batchcomplete": "", "query": {"searchinfo": {"totalhits": len(titles)},
                                               "search": [{"ns": 0, "title": t} for t in titles]}}
    title = query.get("titles", "")
    article = find_article(title)
    if article is None:
        return {"batchcomplete": "", "query": {"pages": {"-1": {"ns": 0, "title": title, "missing": ""}}}}
    page: dict[str, Any] = {"pageid": article.pageid, "ns": 0, "title": article.title}
    prop = query.get("prop", "")
    if prop == "info|pageprops":
        page.update({"contentmodel": "wikitext", "pagelanguage": "en", "fullurl": article.url,
                     "canonicalurl": article.url, "editurl": article.url + "?action=edit"})
        if article.options:
            page["pageprops"] = {"disambiguation": ""}
    elif prop == "revisions" and "rvparse" in query:
        page["revisions"] = [{"contentformat": "text/x-wiki", "contentmodel": "wikitext",
                              "*": _disambiguation_html(article)}]
    elif prop == "extracts":
        page["extract"] = article.extract
    else:
        return {"error": {"code": "badvalue", "info": f"prop={prop!r} is not served here."}}
    return {"batchcomplete": "", "query": {"pages": {str(article.pageid): page}}}
