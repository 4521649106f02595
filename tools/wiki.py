"""Wikipedia tool: the summary of the best-matching article, with its title and URL, through the `wikipedia` package.

The package (1.4.0, from 2014) has two known problems, handled here:
- It has no timeout: it calls `requests.get(API_URL, params=..., headers=...)` bare, so a hung server would hang the
  chat forever. We hand the package a transport in place of its `requests` module: every request goes through one
  requests session under a deadline shared by all requests of the call (search, page info, summary), and answers are
  read in chunks against that deadline, so a trickling server cannot outlast it either. No thread is started, so none
  is left hanging.
- Its auto-suggest rewrites good queries ("Paris" -> "Pari"): we search, then open the top hit with
  `auto_suggest=False`. A disambiguation page is answered with its options, for the model to pick one and ask again.

The API endpoint comes from `WIKIPEDIA_API_URL` at call time (see `tools/config.py`). Try it:
    python -m tools.wiki "Ada Lovelace"
"""

from __future__ import annotations

import json
import logging
import threading
import warnings
from contextlib import contextmanager
from typing import Any

from tools.base import ToolError, echo_argument, tool
from tools.config import (
    Deadline,
    ToolConfigError,
    ToolsConfig,
    build_session,
    describe_http_failure,
    retry_after_seconds,
)

logger = logging.getLogger(__name__)

WIKIPEDIA = "Wikipedia"
MAX_QUERY_CHARS = 300  # MediaWiki's own limit for a search string
MAX_OPTIONS = 10
MAX_ANSWER_BYTES = 4_000_000
SEARCH_RESULTS = 5
PAGES_TRIED = 3  # a search hit can be deleted before it is opened: try the next one


class WikiError(ToolError):
    """A Wikipedia failure worth telling the user about: one sentence, plus context such as the HTTP status."""


@tool
def search_wikipedia(query: str) -> dict:
    """Search Wikipedia and return the summary of the best-matching article, with its title and URL.

    Args:
        query: What to look up, e.g. "Ada Lovelace" or "Eiffel Tower".
    """
    context: dict[str, Any] = {"query": echo_argument(query)}
    try:
        query = _check_query(query)
        config = ToolsConfig.from_env()
        wikipedia = _prepared_package(config)  # imports first: the time limit is for the server, not for Python
        deadline = Deadline(config.timeout_s)
        with build_session(config, deadline) as session, _TRANSPORT.serving(session, deadline, config.timeout_s):
            return _lookup(wikipedia, query, config)
    except WikiError as exc:
        return {**exc.as_result(), **context}
    except ToolConfigError as exc:
        return {"error": f"The Wikipedia tool is misconfigured: {exc}.", **context}
    except Exception:  # the package trips over unexpected JSON shapes with KeyError/AssertionError; never crash
        logger.exception("search_wikipedia failed")
        return {"error": "Wikipedia sent an answer in an unexpected shape; the article could not be read.", **context}


def _check_query(query: Any) -> str:
    if not isinstance(query, str):
        raise WikiError(f"query must be text, got {type(query).__name__}.")
    query = " ".join(query.split())
    if not query:
        raise WikiError("query is empty: say what to look up, e.g. \"Ada Lovelace\".")
    if len(query) > MAX_QUERY_CHARS:
        raise WikiError(f"query is {len(query)} characters long; Wikipedia searches at most {MAX_QUERY_CHARS}.")
    return query


def _lookup(wikipedia, query: str, config: ToolsConfig) -> dict[str, Any]:
    # The package memoises search() by query alone, forever: across endpoints and days that answers stale.
    wikipedia.search.clear_cache()
    titles = wikipedia.search(query, results=SEARCH_RESULTS)
    if not titles:
        raise no_article_error(query)
    for title in titles[:PAGES_TRIED]:
        try:
            page = wikipedia.page(title, auto_suggest=False, redirect=True)
        except wikipedia.PageError:
            continue
        except wikipedia.DisambiguationError as exc:
            return ambiguous_result(query, exc.title, exc.options)
        return article_result(query, page.title, page.url, page.summary or "", config.wiki_summary_chars)
    raise WikiError(f"Wikipedia lists \"{titles[0]}\" for \"{query}\", but the page could not be opened.")


# ------------------------------------------------------------------------------------------------ the results
# Pure functions from plain values: the tool and the training dataset (training/dataset/tool_turns.py) both build
# their results here, so the model trains on exactly what the tool returns.

def article_result(query: str, title: str, url: str, summary: str, summary_chars: int) -> dict[str, Any]:
    """The result for an article found: its summary cut to `summary_chars` (WIKIPEDIA_SUMMARY_CHARS)."""
    summary, truncated = truncate_text(summary, summary_chars)
    return {"query": query, "title": title, "url": url, "summary": summary,
            **({"truncated": True} if truncated else {})}


def ambiguous_result(query: str, title: str, options: list[str]) -> dict[str, Any]:
    """The result for a disambiguation page: its options, for the model to pick one and search again."""
    options = [o for o in dict.fromkeys(options) if o][:MAX_OPTIONS]
    return {"query": query, "title": title, "ambiguous": True, "options": options,
            "message": f"\"{title}\" can mean several things; search again with one of the options."}


def no_article_error(query: str) -> WikiError:
    return WikiError(f"No Wikipedia article matches \"{query}\". Try fewer or different words.")


def status_error(status: int, retry_after_s: int | None = None) -> WikiError:
    """The error for an HTTP status >= 400."""
    return WikiError.for_status(WIKIPEDIA, status, retry_after_s=retry_after_s)


def truncate_text(text: str, limit: int) -> tuple[str, bool]:
    """At most `limit` characters, cut after a sentence where possible; returns (text, whether it was cut)."""
    text = text.strip()
    if len(text) <= limit:
        return text, False
    cut = text[: limit - 1]
    sentence_end = cut.rfind(". ")
    cut = cut[: sentence_end + 1] if sentence_end >= limit // 2 else cut.rsplit(" ", 1)[0]
    return cut.rstrip() + "…", True


# ------------------------------------------------------------------------------------------------ the transport

class _JsonAnswer:
    """What the package gets back from `requests.get`: it only ever calls `.json()`."""

    def __init__(self, data: dict[str, Any]):
        self._data = data

    def json(self) -> dict[str, Any]:
        return self._data


class _Transport:
    """Stands in for the `requests` module inside `wikipedia.wikipedia` (which only calls `requests.get`).

    Inside `serving(...)` requests go through that call's session and deadline (per thread, so concurrent chats do
    not share budgets). Outside it, someone else using the package still gets a timeout.
    """

    fallback_timeout_s = 10.0

    def __init__(self):
        self._local = threading.local()

    @contextmanager
    def serving(self, session, deadline: Deadline, timeout_s: float):
        self._local.call = (session, deadline, timeout_s)
        try:
            yield
        finally:
            self._local.call = None

    def get(self, url: str, params: dict[str, Any] | None = None, headers: dict[str, str] | None = None, **kwargs):
        call = getattr(self._local, "call", None)
        if call is None:
            import requests

            kwargs.setdefault("timeout", self.fallback_timeout_s)
            return requests.get(url, params=params, headers=headers, **kwargs)
        session, deadline, timeout_s = call
        return _JsonAnswer(_fetch_json(session, url, params, headers, deadline, timeout_s))


_TRANSPORT = _Transport()
_PACKAGE_LOCK = threading.Lock()


def _prepared_package(config: ToolsConfig):
    """The `wikipedia` package, pointed at the configured endpoint and speaking through our transport."""
    import retry_requests  # noqa: F401  (build_session's, imported before the clock starts)
    import wikipedia
    from bs4 import GuessedAtParserWarning

    with _PACKAGE_LOCK:
        module = wikipedia.wikipedia  # where search/page live and read their globals
        module.requests = _TRANSPORT
        module.API_URL = config.wikipedia_api_url
        wikipedia.set_user_agent(config.user_agent)
        # The package parses disambiguation pages with BeautifulSoup(html) and no parser named; the guess is fine.
        warnings.filterwarnings("ignore", category=GuessedAtParserWarning, module=r"wikipedia\.")
    return wikipedia


def _fetch_json(session, url: str, params, headers, deadline: Deadline, timeout_s: float) -> dict[str, Any]:
    try:
        response = session.get(url, params=params, headers=headers, timeout=deadline.timeout(), stream=True)
    except Exception as exc:
        raise WikiError(describe_http_failure(exc, WIKIPEDIA, timeout_s)) from None
    with response:
        if response.status_code >= 400:
            raise _status_error(response)
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        if content_type != "application/json":
            raise WikiError(f"{WIKIPEDIA} answered with {content_type or 'no content type'} instead of JSON; "
                            "is WIKIPEDIA_API_URL the API endpoint (.../w/api.php)?")
        body = bytearray()
        try:  # chunk by chunk, so an endless answer is cut at a size (the session's hook cuts it at the deadline)
            for chunk in response.iter_content(64 * 1024):
                body += chunk
                if len(body) > MAX_ANSWER_BYTES:
                    raise WikiError(f"{WIKIPEDIA} sent an answer larger than {MAX_ANSWER_BYTES // 1_000_000} MB.")
        except WikiError:
            raise
        except Exception as exc:
            raise WikiError(describe_http_failure(exc, WIKIPEDIA, timeout_s)) from None
    try:
        data = json.loads(bytes(body))
    except ValueError:
        raise WikiError(f"{WIKIPEDIA} sent an answer that is not valid JSON.") from None
    if not isinstance(data, dict):
        raise WikiError(f"{WIKIPEDIA} sent an answer in an unexpected shape.")
    if isinstance(data.get("error"), dict):
        info = str(data["error"].get("info") or data["error"].get("code") or "unknown error")[:200]
        raise WikiError(f"{WIKIPEDIA}'s API refused the request: {info}")
    return data


def _status_error(response) -> WikiError:
    return status_error(response.status_code, retry_after_seconds(response.headers) if response.status_code == 429
                        else None)


def main() -> None:
    import sys

    print(json.dumps(search_wikipedia.run({"query": " ".join(sys.argv[1:])}), indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
