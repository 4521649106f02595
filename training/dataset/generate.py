"""The synthetic function-calling dataset: built from the project's own tools and prompts, verified, split.

    python -m training.dataset --out runs/funccall/data --seed 0 [--size 3000]

Writes `train.jsonl`, `validation.jsonl`, `test.jsonl` (one sample a line) and `stats.json` (counts per category,
mode and target kind, samples dropped and why). A sample is

    {"id", "category", "split", "mode", "templates", "entities", "must_mention", "must_not_mention",
     "messages": [{"role": "system"|"user"|"assistant"|"ipython", "content": ...}, ...]}

The messages are exactly what the agent sends the model: the mode's system prompt with a date, the user's words,
tool calls as `format_tool_calls` prints them, tool results as `tool_result_message` writes them. The last message is
the target. Every sample is verified before it is written (`verify.py`: the calls parse, validate against the
prompt's tools and are the intended ones; plain answers contain no call and mention the values of the tool results
they rest on), and `grade_reply` applies the same checks to a model's reply, so training and evaluation share one
scorer. `--other-tools-share` adds samples that list invented functions instead of a mode's tools (`other_tools.py`).

Splits are disjoint by phrasing template and by entity (cities, topics): the test set asks about places and topics,
in words, that training never saw; which ones are held out is fixed (a hash of their names) for every seed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from agent.format import parse_tool_calls
from agent.messages import Message
from agent.prompts import MODES, mode_system_prompt
from training.config import output_root
from training.dataset import asks as T
from training.dataset.builders import (
    OUT_OF_MODE_SHARE,
    Ctx,
    DrawOptions,
    NoChoice,
    Pools,
    load_cities,
    load_qa,
    load_topics,
)
from training.dataset.categories import CATEGORIES
from training.dataset.other_tools import load_other_tools
from training.dataset.tasks import GENERATED
from training.dataset.variety import add_noise, date_pools
from training.dataset.verify import grade_reply, mentions, mode_specs, sample_specs, verify_sample  # noqa: F401

SPLITS = ("train", "validation", "test")
# Shares of each split; no_tool + missing_info (+ the plain follow-ups) teach restraint.
# "answer" (the reply after a tool result) is the most common turn in the app: it gets the largest tool share.
CATEGORY_SHARES = {
    "weather_current": 0.11, "weather_forecast": 0.08, "wiki_lookup": 0.09, "parallel_calls": 0.04,
    "no_tool": 0.30, "missing_info": 0.07, "answer": 0.17, "answer_error": 0.05, "follow_up": 0.09,
}
HELD_OUT = {"test": 0.15, "validation": 0.10}  # of every group of templates and entities


@dataclass
class DatasetConfig:
    """Settings of `python -m training.dataset`."""

    out: Path = field(default_factory=lambda: output_root() / "funccall" / "data", metadata={
        "help": "Folder for the JSONL splits and stats.json ($TRAINING_OUTPUT_DIR/funccall/data, runs/...)."})
    seed: int = field(default=0, metadata={"help": "Random seed: the same seed writes the same bytes."})
    size: int = field(default=3000, metadata={"help": "Number of training samples."})
    validation_size: int | None = field(default=None, metadata={"help": "Validation samples (default: size / 10)."})
    test_size: int | None = field(default=None, metadata={"help": "Test samples (default: size / 3)."})
    other_tools_share: float = field(default=0.0, metadata={
        "help": "Share of each split for invented functions listed as an API user would (other_tools.py); the "
                "other categories keep their proportions in the rest. 0 writes the original mix."})
    out_of_mode_share: float = field(default=OUT_OF_MODE_SHARE, metadata={
        "help": "Share of the no-tool samples outside 'all' mode that ask for what the mode has no tool for (facts "
                "about a place or a person in weather mode, weather in Wikipedia or chat mode)."})
    undated_share: float = field(default=0.0, metadata={
        "help": "Share of the Wikipedia results for a dated summary ('Ada Lovelace (1815–1852) was ...') that drop "
                "the dates, so answers learn to state only the dates a summary gives. 0 writes the original mix."})
    more_phrasings: bool = field(default=False, metadata={
        "help": "Also draw the '_more' phrasing groups (six more ways to ask for an article and the weather at "
                "once, five more Fahrenheit follow-ups) and twice the Fahrenheit follow-ups."})
    mode_twins: bool = field(default=False, metadata={
        "help": "Each out-of-mode request (see --out-of-mode-share) also as its twin: the same words as the call in "
                "the mode that has the tool, so only the listed tools tell a call from a refusal."})

    def draw_options(self) -> DrawOptions:
        return DrawOptions(self.out_of_mode_share, self.undated_share, self.more_phrasings, self.mode_twins)

    def split_sizes(self) -> dict[str, int]:
        validation = self.size // 10 if self.validation_size is None else self.validation_size
        test = self.size // 3 if self.test_size is None else self.test_size
        return {"train": self.size, "validation": validation, "test": test}


# --------------------------------------------------------------------------------------------------- splits

def template_banks() -> dict[str, list[T.Template]]:
    """Every phrasing bank the builders draw from, by name."""
    return {
        "current": [t for t in T.CURRENT + T.FOREIGN if not t.forecast],
        "forecast": T.FORECAST + [t for t in T.FOREIGN if t.forecast],
        "parallel": T.PARALLEL, "wiki_person": T.WIKI_PERSON, "wiki_other": T.WIKI_OTHER,
        "wiki_casual": T.WIKI_CASUAL, "wiki_foreign": T.WIKI_FOREIGN, "missing_weather": T.MISSING_WEATHER,
        "missing_wiki": T.MISSING_WIKI, "meta": T.META, "generated": GENERATED,
        "fu_city": T.FOLLOW_OTHER_CITY, "fu_tomorrow": T.FOLLOW_TOMORROW, "fu_unit": T.FOLLOW_UNIT,
        "fu_thanks": T.FOLLOW_THANKS, "fu_umbrella": T.FOLLOW_UMBRELLA, "fu_clarify": T.FOLLOW_CLARIFY,
        "fu_topic": T.FOLLOW_CLARIFY_WIKI, "fu_wiki": T.FOLLOW_WIKI,
    }


def held_out_splits(groups: dict[str, list[str]], salt: str) -> dict[str, str]:
    """key -> split. In each group of 3 or more, about 15% of the keys go to test and 10% to validation.

    The order is a hash of the key, not the seed, so the held-out sets stay the same across seeds and releases.
    """
    assigned = {}
    for keys in groups.values():
        ordered = sorted(keys, key=lambda k: hashlib.sha256(f"{salt}:{k}".encode()).hexdigest())
        n = len(ordered)
        n_test = max(1, round(n * HELD_OUT["test"])) if n >= 3 else 0
        n_val = max(1, round(n * HELD_OUT["validation"])) if n >= 3 else 0
        for index, key in enumerate(ordered):
            assigned[key] = "test" if index < n_test else "validation" if index < n_test + n_val else "train"
    return assigned


def _grouped(items: Iterable, key, group) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for item in items:
        groups[group(item)].append(key(item))
    return groups


@cache
def split_pools() -> dict[str, Pools]:
    """The templates and entities each split may use (disjoint across splits)."""
    banks = template_banks()
    all_templates = [t for bank in banks.values() for t in bank]
    ids = [t.id for t in all_templates] + [q.id for q in load_qa()]
    duplicated = [i for i, n in Counter(ids).items() if n > 1]
    assert not duplicated, f"template ids must be unique: {duplicated}"
    template_split = held_out_splits(_grouped(all_templates, lambda t: t.id, lambda t: t.group), "template")
    template_split |= held_out_splits(_grouped(load_qa(), lambda q: q.id, lambda q: q.kind), "qa")
    city_split = held_out_splits(_grouped(load_cities(), lambda c: c.name, lambda c: c.continent), "city")
    topic_split = held_out_splits(_grouped(load_topics(), lambda t: t.title, lambda t: t.kind), "wiki")
    fake_split = held_out_splits({"all": T.FAKE_PLACES}, "fake")
    other_split = held_out_splits({"all": [f["name"] for f in load_other_tools()]}, "other_tools")
    unknown_split = held_out_splits(_grouped(T.UNKNOWN_TOPICS, lambda u: u[0], lambda u: str(u[2])), "unknown")
    ambiguous_split = held_out_splits({"all": list(T.AMBIGUOUS)}, "ambiguous")
    return {split: Pools(
        cities=[c for c in load_cities() if city_split[c.name] == split],
        topics=[t for t in load_topics() if topic_split[t.title] == split],
        qa=[q for q in load_qa() if template_split[q.id] == split],
        fake_places=[p for p in T.FAKE_PLACES if fake_split[p] == split],
        unknown_topics=[u for u in T.UNKNOWN_TOPICS if unknown_split[u[0]] == split],
        ambiguous=[a for a in T.AMBIGUOUS if ambiguous_split[a] == split],
        templates={name: [t for t in bank if template_split[t.id] == split] for name, bank in banks.items()},
        other_tools=[name for name, where in other_split.items() if where == split],
    ) for split in SPLITS}


# ------------------------------------------------------------------------------------------------- samples

@lru_cache(maxsize=4096)
def system_prompt(mode: str, today: dt.date) -> str:
    return mode_system_prompt(mode, list(mode_specs(mode).values()), today=today)


def listed_system_prompt(functions: Sequence[dict], today: dt.date | None) -> str:
    """Meta's prompt for functions a user lists, no persona (as the evaluation renders BFCL's cases)."""
    from agent.prompts import system_prompt as meta_prompt

    return meta_prompt(functions, persona=None, today=today)


def make_sample(draft, split: str, today: dt.date, noise_rng: random.Random | None = None) -> dict[str, Any]:
    """A draft as a sample; with `noise_rng`, some user messages get surface noise (see `variety.py`)."""
    body, noise = list(draft.messages), []
    if noise_rng is not None:
        names = [e.split(":", 1)[1] for e in draft.entities]  # with the cities' other spellings ("Moskva")
        keep = names + [f for c in load_cities() if c.name in names for f in c.spellings] + draft.must_mention
        body, noise = add_noise(noise_rng, body, [*keep, body[-1].content])
    if draft.functions is None:
        system, extra = system_prompt(draft.mode, today), {}
    else:  # half dated, like the app's prompts; half not, like BFCL's
        dated = noise_rng is None or noise_rng.random() < 0.5
        system, extra = listed_system_prompt(draft.functions, today if dated else None), {"functions": draft.functions}
    return {"id": "", "category": draft.category, "split": split, "mode": draft.mode,
            "templates": list(draft.templates), "entities": list(draft.entities),
            "must_mention": list(draft.must_mention), "must_not_mention": list(draft.must_not_mention),
            "noise": noise, **extra, "messages": [m.to_dict() for m in [Message("system", system), *body]]}


def to_prompt_completion(sample: dict[str, Any]) -> dict[str, list[dict[str, str]]]:
    """A sample as TRL's conversational prompt-completion pair: the loss falls on the target message only."""
    messages = sample["messages"]
    return {"prompt": messages[:-1], "completion": [messages[-1]]}


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


# ------------------------------------------------------------------------------------------------ building

def category_shares(other_tools_share: float = 0.0) -> dict[str, float]:
    """The categories' shares of a split: `CATEGORY_SHARES`, scaled down to make room for `other_tools`."""
    if not 0.0 <= other_tools_share < 1.0:
        raise ValueError(f"--other-tools-share must be in [0, 1), not {other_tools_share}")
    shares = {name: share * (1.0 - other_tools_share) for name, share in CATEGORY_SHARES.items()}
    return shares | ({"other_tools": other_tools_share} if other_tools_share else {})


def category_counts(total: int, other_tools_share: float = 0.0) -> dict[str, int]:
    """Samples per category for a split of `total`: the shares, rounded by largest remainder to sum to `total`."""
    shares = category_shares(other_tools_share)
    counts = {name: int(total * share) for name, share in shares.items()}
    by_remainder = sorted(shares, key=lambda n: -(total * shares[n] % 1))
    for name in by_remainder[: total - sum(counts.values())]:
        counts[name] += 1
    return counts


def build_split(split: str, size: int, seed: int, other_tools_share: float = 0.0,
                options: DrawOptions | None = None, **changes: Any) -> tuple[list[dict], dict[str, Any]]:
    """Generate, verify and deduplicate one split; returns (samples, its stats). `changes` replace fields of
    `options` (`out_of_mode_share=0.3`)."""
    options = replace(options or DrawOptions(), **changes)
    pools = split_pools()[split]
    dates = date_pools(seed, SPLITS)[split]
    samples, seen = [], set()
    dropped: Counter = Counter()
    shortfall = {}
    for category, count in category_counts(size, other_tools_share).items():
        rng = random.Random(f"{seed}/{split}/{category}")
        noise_rng = random.Random(f"{seed}/{split}/{category}/noise")
        kept, attempts = 0, 0
        while kept < count and attempts < count * 20 + 50:
            attempts += 1
            today = rng.choice(dates)
            try:
                drafted = CATEGORIES[category](Ctx(rng, today, pools, options))
            except (NoChoice, IndexError) as exc:  # IndexError: rng.choice on an empty pool
                dropped[f"{category}: nothing fits ({type(exc).__name__})"] += 1
                continue
            noise_state = noise_rng.getstate()
            for draft in drafted if isinstance(drafted, list) else [drafted]:
                if draft.category != category:  # a twin (`mode_twins`): extra, noised as its pair was
                    noise_rng.setstate(noise_state)
                sample = make_sample(draft, split, today, noise_rng)
                problems = verify_sample(sample, draft.expected_calls)
                if problems:
                    dropped[f"{draft.category}: {problems[0]}"] += 1
                    continue
                listed = [f["name"] for f in sample.get("functions") or []]
                key = json.dumps([sample["mode"], listed, sample["messages"][1:]], ensure_ascii=False)
                if key in seen:
                    dropped[f"{draft.category}: duplicate"] += 1
                    continue
                seen.add(key)
                samples.append(sample)
                kept += draft.category == category
        if kept < count:
            shortfall[category] = count - kept
    random.Random(f"{seed}/{split}/order").shuffle(samples)
    for index, sample in enumerate(samples):
        sample["id"] = f"{split}-{index:05d}"
    return samples, split_stats(samples, dropped, shortfall)


def split_stats(samples: list[dict], dropped: Counter, shortfall: dict[str, int]) -> dict[str, Any]:
    def count(key) -> dict[str, int]:
        return dict(sorted(Counter(key(s) for s in samples).items()))

    def count_all(keys) -> dict[str, int]:
        return dict(sorted(Counter(k for s in samples for k in keys(s)).items()))

    text_targets = sum(not parse_tool_calls(s["messages"][-1]["content"]) for s in samples)
    def restraint_share(group: list[dict]) -> float:
        held_back = [s["category"] in ("no_tool", "missing_info")
                     or (s["category"] == "other_tools" and not parse_tool_calls(s["messages"][-1]["content"]))
                     for s in group]
        return round(sum(held_back) / max(1, len(group)), 3)

    return {
        "samples": len(samples),
        "categories": count(lambda s: s["category"]),
        "modes": count(lambda s: s["mode"]),
        "targets": {"call": len(samples) - text_targets, "text": text_targets},
        "no_tool_share": restraint_share(samples),
        "no_tool_share_by_mode": {m: restraint_share([s for s in samples if s["mode"] == m]) for m in MODES},
        "text_target_share": round(text_targets / max(1, len(samples)), 3),
        "distinct_system_prompts": len({s["messages"][0]["content"] for s in samples}),
        "noisy_samples": sum(bool(s["noise"]) for s in samples),
        "noise_kinds": count_all(lambda s: s["noise"]),
        "dates": sorted({m.group(1) for s in samples
                         if (m := re.search(r"Today Date: (.+)", s["messages"][0]["content"]))},
                        key=lambda d: dt.datetime.strptime(d, "%d %B %Y")),
        "template_groups": count(lambda s: s["templates"][0].rsplit(".", 1)[0] if s["templates"] else "none"),
        "distinct_templates": len({t for s in samples for t in s["templates"]}),
        "distinct_entities": len({e for s in samples for e in s["entities"]}),
        "dropped": dict(sorted(dropped.items())),
        "shortfall": shortfall,
    }


def build(config: DatasetConfig) -> tuple[dict[str, list[dict]], dict[str, Any]]:
    splits, stats = {}, {"seed": config.seed, "sizes": config.split_sizes(), "splits": {}}
    for split, size in config.split_sizes().items():
        splits[split], stats["splits"][split] = build_split(split, size, config.seed, config.other_tools_share,
                                                            config.draw_options())
    return splits, stats


def write(splits: dict[str, list[dict]], stats: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for split, samples in splits.items():
        lines = "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in samples)
        (out / f"{split}.jsonl").write_text(lines, encoding="utf-8")
    # stats.json is written last: its presence means the splits beside it are complete.
    (out / "stats.json").write_text(json.dumps(stats, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def parse_args(argv: Sequence[str] | None = None) -> DatasetConfig:
    """The dataset's settings from flags and `--config RECIPE` (flat, or its [dataset] table; the others skipped)."""
    from stage_cli import parse_config
    from training.config import RECIPE_TABLES

    return parse_config(DatasetConfig, argv, description=__doc__, prog="python -m training.dataset", table="dataset",
                        ignored_tables=RECIPE_TABLES)


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_args(argv)
    splits, stats = build(config)
    write(splits, stats, config.out)  # stats hold the seed and sizes, not the path: same seed, same bytes
    for split, numbers in stats["splits"].items():
        categories = ", ".join(f"{k} {v}" for k, v in numbers["categories"].items())
        print(f"{split}: {numbers['samples']} samples ({categories}); no-tool share {numbers['no_tool_share']}")
        if numbers["shortfall"]:
            print(f"  warning: could not fill {numbers['shortfall']} (pools too small for this size)", file=sys.stderr)
    print(f"wrote {config.out}/{{train,validation,test}}.jsonl and stats.json")
    return 0
