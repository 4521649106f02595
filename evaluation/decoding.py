"""The decoding evaluation and the results page: each decoding piece on and off, base and fine-tuned.

Run (one model process at a time; records are kept under --work-dir and reused, so a run can be resumed):
    python -m evaluation decoding --models smollm2-135m smollm2-135m-funccall --bfcl-limit 50 --out docs/results.md
    python -m evaluation sweep --models smollm2-135m smollm2-135m-funccall --write-catalogue   # fit only

Stages, per model: `records` (P(call) and the free and grammar replies, once per prompt: the validation split, the
generated test split, BFCL simple / multiple / irrelevance), the threshold fit on the validation split (stored in the
catalogue with --write-catalogue), `turns` (whole weather- and Wikipedia-mode turns against the local fake servers,
up and down), and the `page` (docs/results.md with the relevance-vs-restraint chart). `--stages` picks some; the page
is made from whatever records exist.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import re
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

from agent.endings import spelled_alike
from agent.format import ToolCallParseError, parse_tool_calls
from agent.messages import Message
from agent.prompts import with_examples
from evaluation import decisions as dec
from evaluation import turns as tv
from evaluation.cases import EvalCase, limit_cases, load_bfcl, load_generated
from evaluation.report import ci, cpu_description, markdown_table, write_json, write_text

DEFAULT_MODELS = ("smollm2-135m", "smollm2-135m-funccall")
ICL = "+icl"  # `--models smollm2-135m+icl`: that catalogue model with few-shot examples in every system prompt
GROUPS = ("validation", "test", "simple", "multiple", "irrelevance")
BUILD_INVENTED = ("python -m training.dataset --out {dir} --seed 0 --size 400 --validation-size 400 --test-size 40 "
                  "--other-tools-share 0.5")  # `--groups invented`: prompts listing invented functions, their own draw


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS),
                        help=f"Catalogue models; a name ending in {ICL!r} is that model prompted with in-context "
                             "examples (the few-shot baseline).")
    parser.add_argument("--stages", nargs="+", default=["records", "turns", "page"],
                        choices=["records", "turns", "page"], help="What to run (default: all).")
    parser.add_argument("--groups", nargs="+", default=list(GROUPS), choices=[*GROUPS, "invented"],
                        help="Prompt sets to record (default: all but 'invented', the validation prompts that list "
                             "invented functions: how the model decides on tools it never learned).")
    parser.add_argument("--bfcl-limit", type=int, default=50, help="BFCL cases per category (default: 50).")
    parser.add_argument("--gen-limit", type=int, default=None, help="Generated cases per category (default: all).")
    parser.add_argument("--turn-limit", type=int, default=20, help="Full-turn prompts per category (default: 20).")
    parser.add_argument("--split-dir", default=None, help="Folder of the generated splits (default: "
                        "$TRAINING_OUTPUT_DIR/funccall/data or runs/funccall/data).")
    parser.add_argument("--bfcl-dir", default=None, help="BFCL v4 folder (default: data/bfcl).")
    parser.add_argument("--work-dir", default="runs/eval/decoding", help="Where records are kept and reused.")
    parser.add_argument("--max-tokens", type=int, default=128, help="New tokens per reply (default: 128).")
    parser.add_argument("--write-catalogue", action="store_true", help="Store each fitted threshold in the catalogue.")
    parser.add_argument("--out", default="docs/results.md", help="The page; the chart goes to assets/ beside it.")
    parser.add_argument("--quiet", action="store_true", help="No progress bars.")
    parser.add_argument("--note", action="append", default=[], help="A line for the page's 'What ran' list "
                        "(repeatable): the commands and sizes of the runs whose records the page shows.")


def split_dir(args) -> Path:
    return Path(args.split_dir or Path(os.environ.get("TRAINING_OUTPUT_DIR") or "runs") / "funccall" / "data")


FIXED_DATE = "Today Date: 21 November 2026"


def one_date(case: EvalCase) -> EvalCase:
    """The case with its system prompt dated like every other one: the split dates its samples at random, which would
    make every prompt a new prefix for the KV cache; the call decision does not depend on the date."""
    system = case.messages[0]
    if system.role != "system":
        return case
    dated = Message("system", re.sub(r"Today Date: [^\n]*", FIXED_DATE, system.content, count=1))
    return replace(case, messages=[dated, *case.messages[1:]])


def with_icl(case: EvalCase) -> EvalCase:
    """The case with the few-shot examples for its tools at the end of its system prompt (as `--icl` gives)."""
    system = case.messages[0] if case.messages else None
    if system is None or system.role != "system" or not case.functions:
        return case
    prompted = Message("system", with_examples(system.content, [f["name"] for f in case.functions]))
    return replace(case, messages=[prompted, *case.messages[1:]])


def catalogue_model(model: str) -> str:
    return model.removesuffix(ICL)


def invented_cases(args) -> list[EvalCase]:
    """`BUILD_INVENTED`'s 200 validation prompts that list 1-3 invented functions in Meta's prompt without a persona,
    as BFCL is rendered: a call, a decline or an ask each."""
    if not (folder := split_dir(args).parent / "data-invented").joinpath("validation.jsonl").exists():
        raise FileNotFoundError(f"no prompts in {folder}; build them: {BUILD_INVENTED.format(dir=folder)}")
    return [c for c in load_generated(folder / "validation.jsonl", "validation") if c.category == "gen:other_tools"]


def group_cases(group: str, args) -> list[EvalCase]:
    if group == "invented":
        return invented_cases(args)
    if group in ("validation", "test"):
        cases = limit_cases(load_generated(split_dir(args) / f"{group}.jsonl", group), args.gen_limit)
        return [one_date(case) for case in cases]
    return limit_cases(load_bfcl(group, args.bfcl_dir), args.bfcl_limit)


def case_index(group: str, args) -> dict[str, EvalCase]:
    """Every case of a group by id (records made with any --gen-limit / --bfcl-limit are found)."""
    if group == "invented":
        return {c.id: c for c in invented_cases(args)}
    if group in ("validation", "test"):
        return {c.id: one_date(c) for c in load_generated(split_dir(args) / f"{group}.jsonl", group)}
    return {c.id: c for c in load_bfcl(group, args.bfcl_dir)}


def record_path(args, model: str, name: str) -> Path:
    return Path(args.work_dir) / model / f"{name}.json"


def read_record(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def save_records(args, model: str, group: str, start: float, rows: list) -> None:
    """One group's records, with the CPU they were made on and the seconds they took."""
    write_json(record_path(args, model, group), {"model": model, "group": group, "cpu": cpu_description(),
                                                 "wall_s": time.perf_counter() - start, "records": rows})


def record_model(model: str, args, load_model) -> None:
    """Record every missing group of one model (the model is loaded once, only if something is missing)."""
    missing = [g for g in args.groups if not record_path(args, model, g).exists()]
    need_turns = "turns" in args.stages and not record_path(args, model, "turns").exists()
    if not missing and not need_turns:
        return
    from evaluation.loading import unload

    icl = model.endswith(ICL)
    llm = load_model(catalogue_model(model))
    try:
        for group in missing if "records" in args.stages else []:
            cases = [with_icl(c) for c in group_cases(group, args)] if icl else group_cases(group, args)
            start = time.perf_counter()
            partial = record_path(args, model, f"{group}.partial")
            done = dec.load_records((read_record(partial) or {}).get("records", []))

            def checkpoint(so_far, partial=partial):
                write_json(partial, {"records": [r.to_dict() for r in so_far]})

            records = dec.record_cases(llm, cases, args.max_tokens, not args.quiet, f"{model} {group}", done,
                                       checkpoint)
            save_records(args, model, group, start, [r.to_dict() for r in records])
            partial.unlink(missing_ok=True)
        if need_turns:
            prompts = tv.turn_prompts(str(split_dir(args) / "test.jsonl"), args.turn_limit)
            start = time.perf_counter()
            settings = {"on": tv.SETTINGS_ON, "off": tv.SETTINGS_OFF}
            if icl:
                settings = {name: {**changes, "icl": True} for name, changes in settings.items()}
            records = tv.run_turns(llm, prompts, settings,
                                   max_tokens=args.max_tokens, show_progress=not args.quiet)
            save_records(args, model, "turns", start, tv.dump(records))
    finally:
        unload(llm)


def fit_model(model: str, args) -> dict[str, Any] | None:
    data = read_record(record_path(args, model, "validation"))
    if not data:
        return None
    records = dec.load_records(data["records"])
    if all(r.p_call is None for r in records):
        return {"model": model, "threshold": None, "accuracy": None, "n": len(records), "curve": [],
                "note": "the backend reported no P(call)"}
    asks = dec.asked_replies(records, case_index("validation", args))
    alone, alone_accuracy = dec.fit_threshold(records)
    threshold, accuracy = dec.fit_threshold(records, asks)  # what the agent runs: the threshold, then asking
    free = dec.rates(dec.decisions_at(records, None, asks))
    return {"model": model, "threshold": threshold, "accuracy": accuracy, "n": len(records),
            "curve": dec.sweep(records, asks), "curve_alone": dec.sweep(records), "alone": alone,
            "alone_accuracy": alone_accuracy,
            "free_accuracy": sum(free) / 2}


def variants(fit: dict | None) -> list[dec.Variant]:
    t = fit["threshold"] if fit else None
    out = [dec.Variant("grammar, model decides (threshold off)", grammar=True)]
    if fit and fit.get("alone") is not None:
        out.append(dec.Variant(f"threshold fitted alone ({fit['alone']:.3g}) + grammar", threshold=fit["alone"],
                               grammar=True))
    if t is not None:
        out += [dec.Variant("threshold + grammar", threshold=t, grammar=True),
                dec.Variant("threshold + grammar + ask", threshold=t, grammar=True, ask=True)]
    return out


METRICS = (("decision", "Balanced decision acc."), ("restraint", "Restraint"), ("relevance", "Relevance"),
           ("name_accuracy", "Function name"), ("ast_accuracy", "Arguments (AST)"), ("format_valid", "Format valid"))


def first_call_section(model: str, fit: dict | None, args) -> tuple[list[str], dict[str, Any]]:
    lines, summary = [], {}
    for group in ("test", "simple", "multiple", "irrelevance"):
        data = read_record(record_path(args, model, group))
        if not data:
            continue
        records = dec.load_records(data["records"])
        cases = case_index(group, args)
        pairs = [(cases[r.case_id], r) for r in records if r.case_id in cases]
        label = "generated test split" if group == "test" else f"BFCL {group}"
        rows = []
        for variant in variants(fit):
            m = dec.variant_metrics([c for c, _ in pairs], [r for _, r in pairs], variant)
            summary[(group, variant.name)] = m
            rows.append([variant.name, m["n"], *[ci(m[key]) for key, _ in METRICS], m["asked"] if variant.ask else ""])
        lines += [f"#### {model}: {label} (n = {len(pairs)}, {data['wall_s']:.0f} s to record)", "",
                  markdown_table(["Variant", "n", *[label for _, label in METRICS], "Asked"], rows), ""]
    return lines, summary


def ask_section(model: str, fit: dict | None, args) -> list[str]:
    data = read_record(record_path(args, model, "test"))
    if not data:
        return []
    cases = case_index("test", args)
    variant = dec.Variant("on", threshold=fit["threshold"] if fit else None, grammar=True, ask=True)
    wrong, called = Counter(), Counter()  # by tool kind: calls the split wants, and of those the ones asked instead
    right = invented = places = right_places = as_written = 0
    for record in dec.load_records(data["records"]):
        case = cases.get(record.case_id)
        reply = dec.effective_reply(record, variant)
        try:
            calls = parse_tool_calls(reply) if case is not None else []
        except ToolCallParseError:
            continue
        run = dec.run_calls(case, reply, record.overrides_of(reply)) if calls else reply
        kinds = {"weather" if "weather" in c.name else "Wikipedia" for c in calls}
        if not kinds:
            continue
        kind = "weather" if "weather" in kinds else "Wikipedia"
        was_asked = run == ""  # the agent asks; else it runs `run`: every call, or those whose values were given
        if case.should_call:
            called[kind] += 1
            wrong[kind] += was_asked
            wanted = {str(v).casefold() for expected in case.expected for name, params in expected.items()
                      if "weather" in name for v in params.get("location", [])}
            said = " ".join(m.content for m in case.messages if m.role == "user").casefold()
            weather_calls = [c for c in parse_tool_calls(run) if "weather" in c.name] if run else []
            for call in weather_calls if wanted and not was_asked else []:  # a weather place is wanted
                place = str(call.arguments.get("location", "")).strip().casefold()
                places += 1
                right_places += place in wanted
                as_written += place not in wanted and bool(place) and place in said and spelled_alike(place, wanted)
        elif kind == "weather":
            invented += 1
            right += was_asked
    return [f"- **{model}**: asked wrongly in {wrong['weather']} of {called['weather']} weather calls the split wants "
            f"({ci(dec.wilson(wrong['weather'], called['weather']))}) and in {wrong['Wikipedia']} of "
            f"{called['Wikipedia']} Wikipedia calls ({ci(dec.wilson(wrong['Wikipedia'], called['Wikipedia']))}); "
            f"asked instead of running an invented place in {right} of {invented} unwanted weather "
            f"calls. Of the weather calls it runs where the split wants a weather place, {right_places} of {places} "
            f"name the place the split expects ({ci(dec.wilson(right_places, places))}), and {as_written} more name "
            f"it as the user misspelt it (\"Dehli\", \"Madird\"; {ci(dec.wilson(right_places + as_written, places))} "
            "with those)."]


def turns_section(model: str, args) -> list[str]:
    data = read_record(record_path(args, model, "turns"))
    if not data:
        return []
    records = tv.load(data["records"])
    rows = []
    for variant in ("on", "off"):
        for server in ("up", "down"):
            chosen = [r for r in records if r.variant == variant and r.server == server]
            if not chosen:
                continue
            m = tv.turn_metrics(chosen)
            rows.append([variant, server, m["n"], ci(m["ended_in_answer"]), ci(m["faithful_after_success"]),
                         ci(m["wiki_called"]), ci(m["states_article"]), ci(m["states_article_only"]),
                         ci(m["faithful_after_failure"]),
                         ci(m["invented_without_call"]), ci(m["asked_on_missing"]), ci(m["asked_wrongly"]),
                         ci(m["truncated"]), ", ".join(f"{k} {v}" for k, v in m["endings"].items())])
    headers = ["Pieces", "Server", "Turns", "Ends in an answer", "States the tool's temperature (after success)",
               "Searches (Wikipedia question)", "States the article (after success)",
               "... and adds no number it lacks", "Says it failed (after failure)",
               "Invented report (no call)", "Asks (no city named)", "Asks wrongly (city named)", "Cut at limit",
               "Endings"]
    return [f"#### {model}: whole turns ({data['wall_s']:.0f} s)", "", markdown_table(headers, rows), ""]


def render_page(args, fits: dict[str, dict], command: str, wall_s: float) -> str:
    stamp = dt.date.today().isoformat()
    machine = f"{cpu_description()}, Python {platform.python_version()}"
    command = command.split(" --note ", 1)[0] + (" --note … (the list below)" if args.note else "")
    lines = ["# Results: decoding that cannot go wrong, base vs fine-tuned", "",
             f"_Generated on {stamp} by `{command}` on {machine} (shared with other work), "
             f"{wall_s / 60:.1f} minutes in this invocation._", "",
             *(["## What ran", "", *[f"- {note}" for note in args.note], ""] if args.note else []),
             "## The call threshold, fitted on the validation split", ""]
    rows = [[m, f["n"], "–" if f["threshold"] is None else f"{f['threshold']:.4g}",
             "–" if f["accuracy"] is None else f"{100 * f['accuracy']:.1f}%",
             "–" if f.get("free_accuracy") is None else f"{100 * f['free_accuracy']:.1f}%",
             "–" if f.get("alone") is None else f"{f['alone']:.4g} ({100 * f['alone_accuracy']:.1f}%)"]
            for m, f in fits.items() if f]
    lines += [markdown_table(["Model", "Validation prompts", "Fitted threshold (stored)",
                              "Balanced decision acc. at it", "… with no threshold",
                              "Threshold fitted without asking (acc.)"], rows), "",
              "The stored threshold is fitted for what the agent runs: a call when P(call) >= t, then not run (a "
              "question instead) when it names a place or searches for words nobody said. The last column fits the "
              "threshold "
              "alone.", "",
              "![Relevance vs restraint per model as the threshold rises](assets/decision_sweep.png)", "",
              "## First call: each decoding piece on and off", "",
              "Cells: rate [95% interval] (Wilson; balanced accuracy: normal approximation). *threshold*: the reply "
              "is a call when P(call) >= the fitted threshold and prose below it; *grammar*: a reply that opens "
              "a call is generated under "
              "the tools' GBNF grammar (a place argument only as words the user wrote, see agent/places.py); "
              "*ask*: a call naming a place or a search query the conversation never mentions, or whose place the "
              "grammar had to "
              "force on the model (below `COPY_FLOOR`), is not run (the agent asks), counted as no call. "
              "The grammar-off side was not re-run here: the previous page "
              "(2026-11-21, 8 prompts per category) measured the fine-tuned model's format validity without the "
              "grammar at 97.5% overall and 87.5% on BFCL multiple.", ""]
    summaries = {}
    for model in args.models:
        section, summaries[model] = first_call_section(model, fits.get(model), args)
        lines += section
    lines += ["## Asking instead of guessing (weather and Wikipedia calls on the generated test split)", ""]
    for model in args.models:
        lines += ask_section(model, fits.get(model), args)
    lines += ["", "## Whole turns (weather and Wikipedia modes, local fake servers up and down)", "",
              "*on*: every piece (grammar, fitted threshold, no call in a turn's last LLM call, failures said by the "
              "agent, asking, repetition guard); *off*: none (the old loop). *Asks*: the turn ends by asking which "
              "place, in the agent's question or the model's own (a question with which/what/where or "
              "city/place), `evaluation.turns.asks_for_place`.", ""]
    for model in args.models:
        lines += turns_section(model, args)
    lines += ["## Done-when check", ""]
    for model in args.models:
        found = summaries.get(model, {})
        alone = next((v for (g, v) in found if g == "test" and v.startswith("threshold fitted alone")), None)
        for name in (alone, "threshold + grammar + ask"):
            m = found.get(("test", name))
            if m:
                lines.append(f"- {model}, {name}: balanced decision accuracy {ci(m['decision'])} on the generated "
                             "test split.")
        m = found.get(("test", "threshold + grammar + ask"))
        if m:  # decoding alone: every piece of the decoding issue (threshold, grammar, asking), no retraining
            met = "meets" if m["decision"][0] >= 0.85 else "does not meet"
            lines.append(f"- {model}: balanced decision accuracy on the generated test split with decoding alone "
                         f"(threshold + grammar + ask): {ci(m['decision'])}, which {met} the 0.85 target; format "
                         f"validity {ci(m['format_valid'])}.")
    lines += ["", METHOD_FILE.read_text(encoding="utf-8").rstrip("\n")]
    return "\n".join(lines)


METHOD_FILE = Path(__file__).with_name("decoding_method.md")  # the page's "How these numbers are made"


def main(args: argparse.Namespace, command: str = "", load_model=None) -> Path:
    if load_model is None:
        from evaluation.loading import load_model
    start = time.perf_counter()
    if {"records", "turns"} & set(args.stages):
        for model in args.models:
            record_model(model, args, load_model)
    fits = {model: fit_model(model, args) for model in args.models}
    if args.write_catalogue:
        from models.catalogue import set_call_threshold

        for model, fit in fits.items():
            if fit and fit["threshold"] is not None and not model.endswith(ICL):
                set_call_threshold(model, fit["threshold"] if math.isfinite(fit["threshold"]) else 2.0)
    page = Path(args.out)
    if "page" in args.stages:  # the chart belongs to the page: a records run leaves the committed one alone
        curves = {m: f["curve"] for m, f in fits.items() if f and f["curve"]}
        if curves:
            dec.plot_sweeps(curves, {m: fits[m]["threshold"] for m in curves}, page.parent / "assets" /
                            "decision_sweep.png", alone={m: fits[m].get("curve_alone", []) for m in curves})
        write_text(page, render_page(args, fits, command or "python -m evaluation decoding",
                                     time.perf_counter() - start))
        print(f"wrote {page}")
    for model, fit in fits.items():
        if fit:
            print(f"{model}: threshold {fit['threshold']}, validation balanced accuracy {fit['accuracy']}")
    return page
