"""A small GBNF reader: random walks over a grammar (to sample strings) and a matcher (to check strings).

It reads the subset of llama.cpp's GBNF that `agent/grammar.py` writes: rules `name ::= ...`, string literals with
escapes, character classes (ranges, negation, \\xNN escapes), groups, alternatives, and the postfix operators
`?`, `*`, `+`, `{m,n}`. The independent second reading of the grammar text llama.cpp gets (tests, `fakes.models`).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import cache

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "[": "[", "]": "]", "-": "-", "^": "^"}


@dataclass(frozen=True)
class Lit:
    text: str


@dataclass(frozen=True)
class Cls:
    ranges: tuple[tuple[str, str], ...]
    negated: bool

    def has(self, ch: str) -> bool:
        inside = any(lo <= ch <= hi for lo, hi in self.ranges)
        return inside != self.negated


@dataclass(frozen=True)
class Ref:
    name: str


@dataclass(frozen=True)
class Seq:
    items: tuple


@dataclass(frozen=True)
class Alt:
    options: tuple


@dataclass(frozen=True)
class Rep:
    item: object
    low: int
    high: int | None


class Grammar:
    """Parsed GBNF rules."""

    def __init__(self, text: str):
        self.rules: dict[str, Alt] = {}
        for line in text.splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                name, body = line.split("::=", 1)
                self.rules[name.strip()] = _Parser(body.strip()).parse_alt()
        missing = {r.name for r in self._refs()} - set(self.rules)
        if missing:
            raise ValueError(f"undefined rules: {sorted(missing)}")

    def _refs(self):
        stack = list(self.rules.values())
        while stack:
            node = stack.pop()
            if isinstance(node, Ref):
                yield node
            elif isinstance(node, (Seq, Alt)):
                stack.extend(node.items if isinstance(node, Seq) else node.options)
            elif isinstance(node, Rep):
                stack.append(node.item)

    # -------------------------------------------------------------------------------------------- sampling
    def sample(self, rng: random.Random, alphabet: str, root: str = "root") -> str:
        out: list[str] = []
        self._emit(Ref(root), rng, alphabet, out, 0)
        return "".join(out)

    def _emit(self, node, rng, alphabet, out, depth) -> None:
        if depth > 200:
            raise RecursionError("grammar walk too deep")
        if isinstance(node, Lit):
            out.append(node.text)
        elif isinstance(node, Cls):
            choices = [c for c in alphabet if node.has(c)]
            out.append(rng.choice(choices))
        elif isinstance(node, Ref):
            self._emit(self.rules[node.name], rng, alphabet, out, depth + 1)
        elif isinstance(node, Seq):
            for item in node.items:
                self._emit(item, rng, alphabet, out, depth + 1)
        elif isinstance(node, Alt):
            options = node.options
            if depth > 12:  # deep inside nested values: prefer options that do not recurse
                flat = [o for o in options if not _recursive(o)]
                options = flat or options
            self._emit(rng.choice(options), rng, alphabet, out, depth + 1)
        elif isinstance(node, Rep):
            high = node.high if node.high is not None else node.low + 8
            count = node.low
            while count < high and rng.random() < 0.6:  # short repeats mostly, sometimes long
                count += 1
            for _ in range(count):
                self._emit(node.item, rng, alphabet, out, depth + 1)

    # -------------------------------------------------------------------------------------------- matching
    def matches(self, text: str, root: str = "root") -> bool:
        @cache
        def ends(node, pos: int) -> frozenset[int]:
            if isinstance(node, Lit):
                return frozenset([pos + len(node.text)]) if text.startswith(node.text, pos) else frozenset()
            if isinstance(node, Cls):
                return frozenset([pos + 1]) if pos < len(text) and node.has(text[pos]) else frozenset()
            if isinstance(node, Ref):
                return ends(self.rules[node.name], pos)
            if isinstance(node, Alt):
                return frozenset().union(*(ends(o, pos) for o in node.options))
            if isinstance(node, Seq):
                current = frozenset([pos])
                for item in node.items:
                    current = frozenset().union(*(ends(item, p) for p in current)) if current else current
                return current
            if isinstance(node, Rep):
                result = set()
                current, count = frozenset([pos]), 0
                while current and (node.high is None or count <= node.high):
                    if count >= node.low:
                        result |= current
                    if node.high is not None and count == node.high:
                        break
                    nxt = frozenset().union(*(ends(node.item, p) for p in current)) - current
                    current, count = nxt, count + 1
                return frozenset(result)
            raise TypeError(node)

        return len(text) in ends(Ref(root), 0)


def _recursive(node) -> bool:
    return isinstance(node, Ref) and node.name in ("list", "dict", "val")


class _Parser:
    def __init__(self, text: str):
        self.text, self.pos = text, 0

    def peek(self) -> str:
        self.skip()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1

    def parse_alt(self) -> Alt:
        options = [self.parse_seq()]
        while self.peek() == "|":
            self.pos += 1
            options.append(self.parse_seq())
        return Alt(tuple(options))

    def parse_seq(self) -> Seq:
        items = []
        while self.peek() not in ("", "|", ")"):
            items.append(self.parse_postfix(self.parse_atom()))
        return Seq(tuple(items))

    def parse_atom(self):
        ch = self.peek()
        if ch == '"':
            self.pos += 1
            chars = []
            while self.text[self.pos] != '"':
                chars.append(self.read_char())
            self.pos += 1
            return Lit("".join(chars))
        if ch == "[":
            self.pos += 1
            negated = self.text[self.pos] == "^"
            self.pos += negated
            ranges = []
            while self.text[self.pos] != "]":
                lo = self.read_char()
                hi = lo
                if self.text[self.pos] == "-" and self.text[self.pos + 1] != "]":
                    self.pos += 1
                    hi = self.read_char()
                ranges.append((lo, hi))
            self.pos += 1
            return Cls(tuple(ranges), negated)
        if ch == "(":
            self.pos += 1
            alt = self.parse_alt()
            assert self.peek() == ")", f"unclosed group in {self.text!r}"
            self.pos += 1
            return alt
        name = re.match(r"[A-Za-z0-9-]+", self.text[self.pos:])
        if not name:
            raise ValueError(f"cannot read GBNF at {self.text[self.pos:]!r}")
        self.pos += name.end()
        return Ref(name.group(0))

    def parse_postfix(self, atom):
        while self.pos < len(self.text) and self.text[self.pos] in "?*+{":
            op = self.text[self.pos]
            if op == "{":
                close = self.text.index("}", self.pos)
                body = self.text[self.pos + 1:close]
                self.pos = close + 1
                low, comma, high = body.partition(",")
                atom = Rep(atom, int(low), (int(high) if high.strip() else None) if comma else int(low))
                continue
            self.pos += 1
            atom = Rep(atom, *{"?": (0, 1), "*": (0, None), "+": (1, None)}[op])
        return atom

    def read_char(self) -> str:
        ch = self.text[self.pos]
        if ch != "\\":
            self.pos += 1
            return ch
        nxt = self.text[self.pos + 1]
        if nxt == "x":
            value = chr(int(self.text[self.pos + 2:self.pos + 4], 16))
            self.pos += 4
            return value
        self.pos += 2
        return _ESCAPES[nxt]
