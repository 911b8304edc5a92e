#!/usr/bin/env python
"""What a person's review of an onboarding draft buys (issue 17), on the blind sets' detectors.

Per detector of ``tests/fixtures/blind2`` and ``blind3`` that is outside the catalog: draft an entry
from its first half of outputs (at most 10; their labels are never read while drafting), then

- score the proposals per category string: a category's truth is the labels of the drafting
  outputs in which it is the only counted category (categories without such an output are not
  judged); report the share right with no edit, the share flagged, and how many flagged were wrong;
- map the other half with the rules alone, with the unedited draft, and with the flagged
  categories corrected from those labels (what a reviewer would write).

Usage: python bench/onboarding_quality.py [--adapter outputs/smollm2-135m-lora-cpu] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import platform
from collections import defaultdict
from pathlib import Path

from llama_mapper.mapping.candidates import CandidateIndex
from llama_mapper.mapping.rules import SAFE, RulesMapper
from llama_mapper.onboarding import draft_entry, draft_yaml, rules_with_entry

ROOT = Path(__file__).resolve().parents[1]
SETS = ("blind2", "blind3")


def exact(mapper: RulesMapper, name: str, cases: list[dict]) -> int:
    return sum(
        set(mapper.map({"detector": name, "output": c["output"]})["taxonomy"]) == set(c["expected"])
        for c in cases
    )


def run(adapter: str | None) -> dict:
    rules = RulesMapper()
    make_ask, model_ref, context = None, None, None
    if adapter:
        from llama_mapper.mapping.prompt import build_prompt
        from llama_mapper.serving.server import open_routes

        context = open_routes(["model"], adapter, rules=rules)
        mapper = context.__enter__()
        model = mapper.mappers["model"]
        index, model_ref = model.index, model.backend.model_ref

        def make_ask(name):
            def ask(categories, candidates):
                prompts = [
                    build_prompt(name, category=c[:200], candidates=k)
                    for c, k in zip(categories, candidates, strict=True)
                ]
                return [
                    (list(a.labels), model.calibration(a.confidence))
                    for a in model.backend.answer_all(prompts)
                ]

            return ask
    else:
        index = CandidateIndex.from_taxonomy(rules.taxonomy, detectors=rules.catalog)
    totals = defaultdict(int)
    per_set = {}
    for set_name in SETS:
        cases = [json.loads(line) for line in (ROOT / "tests/fixtures" / set_name / "cases.jsonl").open()]
        by_detector = defaultdict(list)
        for case in cases:
            if rules.catalog.get(case["detector"]) is None:
                by_detector[case["detector"]].append(case)
        counts = defaultdict(int)
        for name, rows in sorted(by_detector.items()):
            rows.sort(key=lambda c: c["id"])
            k = min(10, max(1, len(rows) // 2))
            drafting, rest = rows[:k], rows[k:]
            ask = make_ask(name) if make_ask else None
            draft = draft_entry(name, [c["output"] for c in drafting], rules, index, ask, model_ref)
            truth: dict[str, set[str]] = {}
            for case, reading in zip(drafting, draft.readings, strict=True):
                counted = {f.category for f in reading.findings if f.counted}
                if len(counted) == 1:
                    truth.setdefault(counted.pop(), set(case["expected"]) - {SAFE})
            for p in draft.proposals:
                counts["categories"] += 1
                counts["flagged"] += bool(p.review)
                if p.category in truth:
                    right = set(p.proposed) - {SAFE} == truth[p.category]
                    counts["judged"] += 1
                    counts["right"] += right
                    counts["flagged_judged"] += bool(p.review)
                    counts["flagged_wrong"] += bool(p.review) and not right
                    counts["unflagged_wrong"] += not p.review and not right
            entry = draft_yaml(draft)
            corrected = json.loads(json.dumps(entry))
            for p in draft.proposals:
                if p.review and p.category in truth:
                    corrected["categories"][p.category] = sorted(truth[p.category])
            counts["rest"] += len(rest)
            counts["rest_rules"] += exact(rules, name, rest)
            counts["rest_draft"] += exact(rules_with_entry(rules, entry), name, rest)
            counts["rest_corrected"] += exact(rules_with_entry(rules, corrected), name, rest)
            counts["detectors"] += 1
        per_set[set_name] = dict(counts)
        for key, value in counts.items():
            totals[key] += value
    if context is not None:
        context.__exit__(None, None, None)
    return {"sets": per_set, "total": dict(totals), "adapter": adapter, "machine": platform.processor()}


def table(results: dict) -> str:
    lines = [
        "| set | detectors | categories | judged | right, no edit | flagged | flagged that were wrong | "
        "unflagged wrong | rest: rules | rest: draft | rest: corrected |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, c in [*results["sets"].items(), ("all", results["total"])]:
        n = c["rest"] or 1
        lines.append(
            f"| {name} | {c['detectors']} | {c['categories']} | {c['judged']} | "
            f"{c['right'] / max(c['judged'], 1):.2f} | {c['flagged'] / max(c['categories'], 1):.2f} | "
            f"{c['flagged_wrong']} of {c['flagged_judged']} | {c['unflagged_wrong']} | "
            f"{c['rest_rules'] / n:.3f} | {c['rest_draft'] / n:.3f} | {c['rest_corrected'] / n:.3f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--adapter", default=None, help="also ask this adapter (a folder or org/name@tag)")
    parser.add_argument("--out", default=None, help="write the figures as JSON here")
    args = parser.parse_args()
    results = run(args.adapter)
    print(table(results))
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
