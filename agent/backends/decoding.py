"""The llama.cpp backend's token loop: the call decision, grammar-constrained calls, stop strings, two guards.

`Decoder.run()` starts where the prompt has just been evaluated and streams the reply's text. It uses
llama-cpp-python's low-level API (one native sampler chain; logits read and masked in llama.cpp's own buffer) instead
of `Llama.create_completion`, for three reasons:

- **The call decision.** After prefill, `p` = the model's probability (softmax at temperature 1) that the first token
  opens a call: the summed probability of every token whose text, stripped of leading whitespace, starts with `[`
  (Meta's pythonic list), plus `<|python_tag|>` where the vocabulary has it. Code fences, JSON objects and bare
  `f(x=1)` calls are not counted (the grammar only writes the list form). With `call_threshold=t`: `p >= t` makes the
  reply a call (the first token restricted to call openings the grammar allows), `p < t` makes it prose (call openings
  are banned while the reply is still blank, and while its opening is undecided, any token that would make it read as
  a call to `agent.format.classify_opening` is banned too: no fence, JSON or bare call slips through); `t > 1` never
  calls. Without a threshold the model decides freely, as before (its own first token, sampled; under a grammar, a
  reply that opens with a call opening continues under it). `p` is read and reported in every case (one softmax per
  reply, ~0.1 ms), so an evaluation can sweep thresholds from one run.
- **Cheap constrained calls.** The grammar is only switched on once the reply opens as a call; prose never touches it.
  Inside a call, a token is sampled without the grammar and checked against it (one candidate); only when the grammar
  rejects it are the 256 most likely tokens filtered (and the whole vocabulary only if none of those fits), the way
  llama.cpp's own `common_sampler` does. The call ends as soon as the grammar is complete (no extra token for EOS).
  Near max_tokens (a little earlier where a call may end), or when the call loops, the first closing token the grammar
  allows is taken (`"`, `)`, `]`), so a call under a grammar ends well-formed instead of being cut. Each time the
  grammar refuses the model's token, the decoder notes where (the byte offset of the replacement in the reply) and how
  much of the model's probability the grammar still allowed there (`Decoder.grammar_overrides`): the agent tells a
  place the model copied from one the grammar forced on it (agent/places.py).
- **Grounded numbers.** With `params.allowed_numbers` (the agent sets them for an answer retelling an article), a prose
  reply writes only those numbers (agent/numbers.py). A refused number undoes the clause it was in (from its opening
  parenthesis, comma, colon or full stop, or the reply's start; a clause is held back from the stream until the next
  begins) and the reply goes on from there without the token that opened it; a parenthesis undone so is not opened
  again. After MAX_REWINDS the reply ends where the clause began. With `params.minus_first` (a weather answer), a
  number the reply begins with one of those digits gets its minus sign first.
- **No wasted tokens.** A reply whose last tokens repeat the same span (32+ tokens of one loop, at least 3 repeats,
  2 for spans of 20+ tokens) stops with finish_reason "repetition" instead of running to max_tokens.
"""

from __future__ import annotations

import ctypes
import math
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from functools import cached_property
from typing import Any

import numpy as np

from agent.backends.base import GenerationParams
from agent.backends.sampling import RepetitionGuard, TextStream, keep_only, sampler_chain
from agent.numbers import Clause, NumberGuard, NumberTokens, unsigned_next

try:
    import llama_cpp
except ImportError:  # the tables need it; agent.backends.sampling's pure helpers work without it
    llama_cpp = None

PYTHON_TAG = "<|python_tag|>"
FALLBACK_CANDIDATES = 256  # grammar-filtered when the sampled token does not fit the call
CLOSING_MARGIN = 16  # inside a call, this close to max_tokens: close strings, calls and the list as soon as allowed
_CLOSING_CHARS = frozenset("\"')]}")
_TOKEN_DATA = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)])
_MAX_BANS = 32  # prose guard: resamples per position before giving up on a reply that insists on a call
MAX_REWINDS = 4  # numbers guard: clauses undone per reply; at the next refused number the reply ends where it began


class TokenTable:
    """What the decoder needs to know about each token of a vocabulary, read once per model (~0.4 s)."""

    def __init__(self, llama: Any):
        vocab = llama_cpp.llama_model_get_vocab(llama.model)
        self.vocab = vocab
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(vocab)
        buffer = ctypes.create_string_buffer(256)
        pieces, openings, eog, control, closers = [], [], [], [], []
        for token in range(self.n_vocab):
            n = llama_cpp.llama_token_to_piece(vocab, token, buffer, 256, 0, True)
            special_text = buffer.raw[:max(n, 0)]
            if llama_cpp.llama_vocab_is_eog(vocab, token):
                eog.append(token)
            is_control = llama_cpp.llama_vocab_is_control(vocab, token)
            if is_control and not llama_cpp.llama_vocab_is_eog(vocab, token):
                control.append(token)
            text = special_text.decode("utf-8", "ignore")
            if text.lstrip().startswith("[") or text == PYTHON_TAG:
                openings.append(token)
            if not is_control and text.strip() and set(text.strip()) <= _CLOSING_CHARS:
                closers.append(token)
            pieces.append(b"" if is_control else special_text)
        self.pieces: list[bytes] = pieces
        self.openings = np.asarray(openings, dtype=np.int32)
        self.opening_set = frozenset(openings)
        self.eog = frozenset(eog)
        self.eog_token = eog[0] if eog else llama_cpp.llama_vocab_eos(vocab)
        self.control = frozenset(control)
        self.control_ids = np.asarray(control, dtype=np.int32)
        # `"`, `)`, `")]`...: what ends a string, call or list, in the order a call near its budget tries them: a
        # token opening with `"` first (inside a string `)` and `]` are only more string, so they must not come first),
        # then `)` / `}` (a call, a dict), then `]` (a list) and the rest.
        tiers: list[list[int]] = [[], [], []]
        for token in closers:
            first = pieces[token].strip()[:1]
            tiers[0 if first == b'"' else 1 if first in (b")", b"}") else 2].append(token)
        self.closer_tiers = [np.asarray(t, dtype=np.int32) for t in tiers]
        self._grammars: OrderedDict[str, GrammarMatcher] = OrderedDict()

    @cached_property
    def number_tokens(self) -> NumberTokens:
        """The tokens the number guard looks at (agent/numbers.py), found once per model."""
        return NumberTokens.of(self.pieces)

    def grammar(self, text: str) -> GrammarMatcher:
        """The compiled grammar for this GBNF text, cached by text (one per tool set; the 16 most recent)."""
        matcher = self._grammars.get(text)
        if matcher is None:
            matcher = self._grammars[text] = GrammarMatcher(self, text)
            while len(self._grammars) > 16:
                self._grammars.popitem(last=False)
        self._grammars.move_to_end(text)
        return matcher


_TABLES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def token_table(llama: Any) -> TokenTable:
    """The `TokenTable` of a loaded `llama_cpp.Llama`, built on first use (callers hold the model's lock)."""
    table = _TABLES.get(llama)
    if table is None:
        table = _TABLES[llama] = TokenTable(llama)
    return table


def softmax_mass(logits: np.ndarray, ids: np.ndarray) -> float:
    """The probability of `ids` together: their softmax mass over the whole vocabulary, at temperature 1."""
    top = float(np.max(logits))
    weights = np.exp(logits.astype(np.float64) - top)
    total = float(weights.sum())
    return float(weights[ids].sum() / total) if total > 0 and len(ids) else 0.0


class GrammarMatcher:
    """A llama.cpp grammar sampler used as a matcher: which tokens may come next, and feeding it the chosen ones."""

    def __init__(self, table: TokenTable, text: str):
        self.table, self.text = table, text
        self.sampler = llama_cpp.llama_sampler_init_grammar(table.vocab, text.encode("utf-8"), b"root")
        if not self.sampler:
            raise ValueError("llama.cpp could not parse the call grammar (see its log for the rule)")
        self._one = (llama_cpp.llama_token_data * 1)()
        self._one_array = llama_cpp.llama_token_data_array(
            ctypes.cast(self._one, llama_cpp.llama_token_data_p), 1, -1, False)
        self.reset()
        self.first_tokens = self.allowed(table.openings)  # call openings the grammar accepts as a first token

    def __del__(self):
        if getattr(self, "sampler", None):
            llama_cpp.llama_sampler_free(self.sampler)
            self.sampler = None

    def reset(self) -> None:
        llama_cpp.llama_sampler_reset(self.sampler)

    def accepts(self, token: int) -> bool:
        """May `token` come next? (One candidate through the grammar: microseconds.)"""
        if token in self.table.control:
            return False
        self._one[0].id, self._one[0].logit = token, 0.0
        self._one_array.size, self._one_array.selected, self._one_array.sorted = 1, -1, False
        llama_cpp.llama_sampler_apply(self.sampler, ctypes.byref(self._one_array))
        return self._one[0].logit != -math.inf

    def allowed(self, ids: np.ndarray) -> np.ndarray:
        """The subset of `ids` the grammar allows next (control tokens never)."""
        if len(ids) == 0:
            return ids
        data = np.zeros(len(ids), dtype=_TOKEN_DATA)
        data["id"] = ids
        array = llama_cpp.llama_token_data_array(
            data.ctypes.data_as(llama_cpp.llama_token_data_p), len(ids), -1, False)
        llama_cpp.llama_sampler_apply(self.sampler, ctypes.byref(array))
        keep = np.isfinite(data["logit"])
        if self.table.control:
            keep &= ~np.isin(data["id"], self.table.control_ids)
        return data["id"][keep].astype(np.int32)

    def accept(self, token: int) -> None:
        llama_cpp.llama_sampler_accept(self.sampler, token)

    def complete(self) -> bool:
        """Has the grammar reached its end (end-of-generation may follow)?"""
        return self.accepts(self.table.eog_token)


class Decoder:
    """One reply, from the logits of the evaluated prompt to its last token. Read the results after `run()`."""

    def __init__(self, llama: Any, table: TokenTable, params: GenerationParams, max_tokens: int,
                 grammar: GrammarMatcher | None, classify: Callable[[str], str],
                 logits_processor: Any = None):
        self.llama, self.table, self.params, self.max_tokens = llama, table, params, max_tokens
        self.grammar, self.classify, self.logits_processor = grammar, classify, logits_processor
        self.call_probability: float | None = None
        # (byte offset in the reply of the token the grammar chose instead of the model's, the probability mass at
        # temperature 1 of the tokens the grammar allowed there, among the candidates checked)
        self.grammar_overrides: list[tuple[int, float]] = []
        self.finish_reason = "length"
        self.generated = 0
        self._opening_settled = False  # prose guard: the reply reads as prose for good, no more checks
        allowed = params.allowed_numbers
        self.numbers = NumberGuard(allowed, table.number_tokens) if allowed is not None else None
        self.minus_first = table.number_tokens.digit_ids(params.minus_first)
        self._rewinds, self._no_parens = 0, False
        self._logits_address, self._logits_view = None, None

    def _logits(self) -> np.ndarray:
        """The last position's logits: a writable view of llama.cpp's buffer, reused while it stays put (~0.25 ms)."""
        pointer = llama_cpp.llama_get_logits_ith(self.llama.ctx, -1)
        address = ctypes.cast(pointer, ctypes.c_void_p).value
        if address != self._logits_address:
            self._logits_view = np.ctypeslib.as_array(pointer, shape=(self.table.n_vocab,))
            self._logits_address = address
        return self._logits_view

    def run(self) -> Iterator[str]:
        params, table, grammar = self.params, self.table, self.grammar
        chain = sampler_chain(params)
        try:
            if grammar is not None:
                grammar.reset()
            self.call_probability = softmax_mass(self._logits(), table.openings)  # P(first token opens a call)
            threshold = params.call_threshold
            decision = "free" if threshold is None else "call" if self.call_probability >= threshold else "prose"
            if decision == "call" and grammar is not None and len(grammar.first_tokens) == 0:
                decision = "prose"  # nothing in this vocabulary can open a call the grammar allows
            yield from self._loop(chain, decision)
        finally:
            llama_cpp.llama_sampler_free(chain)

    def _loop(self, chain: Any, decision: str) -> Iterator[str]:
        table, grammar, ctx = self.table, self.grammar, self.llama.ctx
        stream = TextStream(self.params.stop)
        guard = RepetitionGuard() if self.params.repetition_guard else None
        raw = b""  # every generated byte: is the reply still blank, is its opening still undecided?
        in_call = closing = False
        blank = True  # nothing but whitespace generated yet
        # numbers guard: the clause being written (held back from the stream until the next begins; it may be undone)
        clause = Clause(self.llama.n_tokens, 0) if self.numbers is not None else None
        for _ in range(self.max_tokens):
            logits = self._logits()
            if self.logits_processor is not None:
                logits[:] = self.logits_processor(self.llama.input_ids[:self.llama.n_tokens], logits)
            blank = blank and not raw.strip()
            if blank and decision == "prose":
                logits[table.openings] = -math.inf
            elif blank and decision == "call" and not in_call:
                keep_only(logits, grammar.first_tokens if grammar is not None else table.openings)
            if in_call:
                left, margin = self.max_tokens - self.generated, min(CLOSING_MARGIN, self.max_tokens // 4)
                # near the budget, close as soon as a call may end: no room to open and finish another call
                closing = closing or left <= margin or (left <= 2 * margin and self._may_end_call())
                token = self._sample_in_grammar(chain, logits, closing, len(raw))
                if token is None:
                    self.finish_reason = "stop"  # the grammar allows nothing more: the call is as complete as it gets
                    break
            else:
                if self._no_parens:  # numbers guard: a parenthesis was taken back, so none is opened again
                    logits[self.numbers.parens] = -math.inf
                token = llama_cpp.llama_sampler_sample(chain, ctx, -1)
                if token in self.minus_first and unsigned_next(raw):  # "It's 3.2 °C" where the tool said -3.2
                    token = table.number_tokens.minus  # the minus sign first, then the digit it wanted
                if decision == "prose":
                    token = self._refuse_call_openings(chain, logits, raw, token)
                elif blank and token in table.opening_set and (decision == "call" or grammar is not None):
                    in_call = grammar is not None
                    if in_call and not grammar.accepts(token):
                        self._overridden(len(raw), logits, grammar.first_tokens)
                        keep_only(logits, grammar.first_tokens)
                        token = llama_cpp.llama_sampler_sample(chain, ctx, -1)
            if self.numbers is not None and not in_call and not self.numbers.allows(raw, token):
                token, raw = self._number_refused(chain, raw, clause, blank and decision == "prose")
            if token in table.eog:
                self.finish_reason = "stop"
                break
            if in_call:
                grammar.accept(token)
            self.generated += 1
            piece = table.pieces[token]
            out = piece
            if clause is not None and not in_call:
                if self.numbers.opens_clause(raw, piece):
                    out = b"".join(clause.held)
                    clause = Clause(self.llama.n_tokens, len(raw), token, held=[piece])
                else:
                    out = b""
                    clause.held.append(piece)
                    clause.first = token if clause.first is None else clause.first
            raw += piece
            text = stream.push(out) if out else ""
            if text:
                yield text
            if stream.stopped:
                self.finish_reason = "stop"
                return
            if in_call and grammar.complete():
                self.finish_reason = "stop"
                break
            if guard is not None and guard.push(token):
                if not in_call:
                    self.finish_reason = "repetition"
                    break
                closing = True  # a call going round in circles (a looping string): end it, validly, right away
            if self.generated >= self.max_tokens:
                break
            self.llama.eval([token])
        held = b"".join(clause.held) if clause is not None else b""
        tail = (stream.push(held) if held and not stream.stopped else "") + stream.flush()
        if tail:
            yield tail

    def _number_refused(self, chain: Any, raw: bytes, clause: Clause, no_opening: bool) -> tuple[int, bytes]:
        """The model's token would write a number nobody gave. Undo the clause it is in (from its opening parenthesis,
        comma, colon or full stop, or the reply's start: "Freddie Mercury (1971–1990) was ...", where a small model
        puts the dates it half remembers) and write on from there without the token that opened it; after
        MAX_REWINDS, end the reply where the clause began. Returns (the next token, the reply so far)."""
        raw, clause.held = raw[:clause.size], []
        if self._rewinds >= MAX_REWINDS:
            return self.table.eog_token, raw
        self._rewinds += 1
        if clause.first is not None:
            clause.banned.append(clause.first)
            self._no_parens = self._no_parens or b"(" in self.table.pieces[clause.first]
        clause.first = None
        self.llama.n_tokens = clause.start - 1
        self.llama.eval([int(self.llama.input_ids[clause.start - 1])])
        logits = self._logits()
        logits[clause.banned] = -math.inf
        if self._no_parens:
            logits[self.numbers.parens] = -math.inf
        if no_opening and not raw.strip():
            logits[self.table.openings] = -math.inf
        self.numbers.apply(raw, logits)
        return llama_cpp.llama_sampler_sample(chain, self.llama.ctx, -1), raw

    def _may_end_call(self) -> bool:
        """May the next token end the call or the list (`)`, `]`), outside a string? (After a call's last argument.)"""
        quotes, *ends = self.table.closer_tiers
        return not len(self.grammar.allowed(quotes)) and any(len(self.grammar.allowed(tier)) for tier in ends)

    def _sample_in_grammar(self, chain: Any, logits: np.ndarray, closing: bool, offset: int) -> int | None:
        """Sample as usual; if the grammar rejects the token, sample again among the likely tokens it allows (and
        note the override at byte `offset`).

        `closing`: out of budget or looping, so the first token that may close something (a string, the call, the
        list) is taken, whenever the grammar allows one.
        """
        if closing:
            for tier in self.table.closer_tiers:
                closers = self.grammar.allowed(tier)
                if len(closers):
                    return self._sample_among(chain, logits, closers)
        token = llama_cpp.llama_sampler_sample(chain, self.llama.ctx, -1)
        if self.grammar.accepts(token):
            return token
        k = min(FALLBACK_CANDIDATES, len(logits))
        likely = np.argpartition(logits, -k)[-k:].astype(np.int32)
        allowed = self.grammar.allowed(likely)
        if len(allowed) == 0:
            allowed = self.grammar.allowed(np.arange(len(logits), dtype=np.int32))
        if len(allowed) == 0:
            return None
        self._overridden(offset, logits, allowed)
        return self._sample_among(chain, logits, allowed)

    def _overridden(self, offset: int, logits: np.ndarray, allowed: np.ndarray) -> None:
        """The grammar refused the model's token at byte `offset`: note how sure the model was of what it may write."""
        self.grammar_overrides.append((offset, softmax_mass(logits, allowed)))

    def _sample_among(self, chain: Any, logits: np.ndarray, allowed: np.ndarray) -> int:
        if not np.isfinite(logits[allowed]).any():
            logits[allowed] = 0.0  # the model gave them no weight at all: any allowed token, uniformly
        keep_only(logits, allowed)
        return llama_cpp.llama_sampler_sample(chain, self.llama.ctx, -1)

    def _refuse_call_openings(self, chain: Any, logits: np.ndarray, raw: bytes, token: int) -> int:
        """A prose reply: resample any token that would make the reply so far read as a call opening."""
        if self._opening_settled:
            return token
        so_far = raw.decode("utf-8", "ignore")
        if self.classify(so_far) == "prose":
            self._opening_settled = True
            return token
        for _ in range(_MAX_BANS):
            if token in self.table.eog or self.classify(so_far + self.table.pieces[token].decode("utf-8", "ignore")) \
                    != "call":
                return token
            logits[token] = -math.inf
            token = llama_cpp.llama_sampler_sample(chain, self.llama.ctx, -1)
        return self.table.eog_token  # the model wants nothing but a call here: end the reply, blank, rather than call
