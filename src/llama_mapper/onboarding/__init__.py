"""Onboarding a detector: sample outputs in, a draft catalog entry for a person to review out.

:func:`draft_entry` reads N raw outputs of one detector, finds the reader that fits (a catalog format
or the generic reader), lists every category string with how it counted, and proposes labels for
each from three sources side by side: the taxonomy's aliases, retrieval's top 3 with scores, and
(given an adapter) the model's answer with its calibrated confidence, which advises: where it
differs from the proposal, the category is flagged. What it cannot decide is flagged for review. :func:`write_draft` writes the draft YAML (``choices:`` and ``review:``), a
golden stub of the samples marked ``unreviewed`` and a Markdown report; :func:`check_draft`
validates an edited draft and shows what it changes. A draft never enters the catalog by itself.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from llama_mapper.catalog import READERS, Catalog, Detector, load_catalog, read
from llama_mapper.catalog.base import Finding, ReaderConfig, Reading, parse_output
from llama_mapper.catalog.vocabulary import _is_inverted_key, _key
from llama_mapper.mapping.candidates import CandidateIndex
from llama_mapper.mapping.prompt import build_prompt
from llama_mapper.mapping.routes import MAX_CATEGORY_CHARS
from llama_mapper.mapping.rules import SAFE, UNKNOWN, RulesMapper
from llama_mapper.serving.server import open_routes

DEFAULT_THRESHOLD = 0.5
FIT_SHARE = 0.8  # a catalog reader "fits" when it reads at least this share of the samples
LOW_SUPPORT = 2  # a category counted in fewer samples than this is flagged
RETRIEVAL_SUPPORT = 0.6  # below this best retrieval score, nothing the taxonomy knows comes close
RETRIEVAL_SURE = 0.9  # a proposal from retrieval alone below this blended score is flagged
ALIAS_SURE = 0.9  # an alias match at least this good is proposed as it is
_SHORT_CODE = re.compile(r"^(?:[A-Za-z]{1,3}\d{0,3}|LABEL_\d+|\d+)$")


@dataclass
class Proposal:
    """One category string of the samples and what the three sources say about it."""

    category: str
    seen: int = 0  # samples where the reader found it
    counted: int = 0  # samples where it counted
    how: Counter = field(default_factory=Counter)  # flag | score | list item | prose hint
    parents: set[str] = field(default_factory=set)
    alias: tuple[list[str], float] | None = None
    retrieval: list[tuple[str, float]] = field(default_factory=list)
    model: tuple[list[str], float] | None = None
    proposed: list[str] = field(default_factory=list)
    source: str = ""
    review: list[str] = field(default_factory=list)  # why a person must decide: kept out of categories
    notes: list[str] = field(default_factory=list)  # worth a look, not blocking (support, how counted)

    @property
    def unsure(self) -> float:
        """Sort key of the report: most unsure first (more review reasons, weaker evidence)."""
        strength = self.alias[1] if self.alias else (self.retrieval[0][1] if self.retrieval else 0.0)
        return len(self.review) + (1.0 - min(strength, 1.0))


@dataclass
class Draft:
    """What :func:`draft_entry` made of the samples."""

    name: str
    format: str
    fits: dict[str, float]  # reader -> share of the samples it read
    samples: list[Any]
    readings: list[Reading]
    proposals: list[Proposal]
    errors: int
    threshold: float = DEFAULT_THRESHOLD
    adapter: str | None = None


def load_samples(path: str | Path) -> list[Any]:
    """One raw output a line (JSON, or a line of text for text-emitting models). A line that is
    neither an object, an array nor a JSON string is kept as the text it is."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such samples file (JSONL, one raw output a line)")
    samples = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            samples.append(json.loads(line))
        except ValueError:
            samples.append(line)
    if not samples:
        raise ValueError(f"{path}: no samples")
    return samples


def _read_with(fmt: str, value: Any) -> Reading | None:
    """A format's own reading of an already parsed output, or None when the reader fails on it."""
    try:
        reading = READERS[fmt](value, ReaderConfig())
    except (RecursionError, TypeError, ValueError, AttributeError, KeyError, IndexError):
        return None
    return reading if reading.status == "ok" else None


def find_format(samples: Sequence[Any]) -> tuple[str, dict[str, float]]:
    """The catalog reader that finds categories in the most samples, when it does in at least
    ``FIT_SHARE`` of them and in more than the generic reader does; else ``generic``.
    Returns the choice and every fitting reader's share."""
    parsed = [v for v, problem in map(parse_output, samples) if problem is None]
    if not parsed:
        return "generic", {}
    generic = sum(1 for r in (_read_with("generic", v) for v in parsed) if r is not None and r.findings)
    fits, found = {}, {}
    for fmt in READERS:  # ties go to the first registered reader (the older, more general format)
        if fmt == "generic":
            continue
        readings = [r for r in (_read_with(fmt, v) for v in parsed) if r is not None]
        share = sum(1 for r in readings if r.findings) / len(parsed)
        found[fmt] = sum(len(r.findings) for r in readings)
        # only a reader that finds something where the generic reader finds nothing earns the choice
        if share >= FIT_SHARE and share * len(parsed) > generic:
            fits[fmt] = share
    best = max(fits, key=lambda f: (fits[f], found[f]), default="generic")
    return best, fits


def _how(finding: Finding) -> str:
    if finding.hint:
        return "prose hint"
    if finding.thresholded:
        return "score >= threshold"
    if finding.path.endswith("]"):
        return "list item"
    return "flag" if finding.score is None else "flag (score beside)"


def draft_entry(
    name: str,
    samples: Sequence[Any],
    rules: RulesMapper | None = None,
    index: Any = None,
    ask_model: Any = None,
    adapter: str | None = None,
) -> Draft:
    """Profile the samples and propose labels per category. ``index`` is a
    :class:`~llama_mapper.mapping.candidates.CandidateIndex` (retrieval); ``ask_model(categories,
    candidates)`` returns ``[(labels, calibrated confidence)]`` (the adapter), or None to skip it."""
    rules = rules or RulesMapper()
    fmt, fits = find_format(samples)

    readings = [read(s, fmt) for s in samples]
    by_name: dict[str, Proposal] = {}
    for reading in readings:
        for finding in reading.findings:
            p = by_name.setdefault(finding.category, Proposal(finding.category))
            p.seen += 1
            p.counted += finding.counted
            p.how[_how(finding)] += 1
            parent = finding.path.rpartition(".")[0].rpartition(".")[2]
            if parent:
                p.parents.add(parent)
    proposals = sorted(by_name.values(), key=lambda p: (-p.counted, p.category))
    names = [p.category for p in proposals]
    if index is not None and names:
        scores = index.scores(names)
        for p, row in zip(proposals, scores, strict=True):
            order = row.argsort()[::-1][:3]
            p.retrieval = [(index.label_names[j], round(float(row[j]), 3)) for j in order]
    answers = (
        ask_model(names, [[label for label, _ in p.retrieval] for p in proposals]) if ask_model else None
    )
    for i, p in enumerate(proposals):
        mapped = rules.label_category(p.category, None)
        if mapped is not None:
            p.alias = (list(mapped[0]) or [SAFE], round(mapped[1], 3))
        if answers is not None:
            labels, confidence = answers[i]
            p.model = (list(labels), round(confidence, 3))
        _decide(p, len(samples))
        readable = sum(r.status == "ok" for r in readings)
        if p.counted == readable >= 3:
            p.review.append(f"counted in every readable sample ({readable}): metadata rather than a finding?")
    errors = sum(r.status == "error" for r in readings)
    return Draft(name, fmt, fits, list(samples), readings, proposals, errors, adapter=adapter)


def _decide(p: Proposal, n: int) -> None:
    """The proposed labels, where they come from, and why a person should look."""
    top = p.retrieval[0] if p.retrieval else None
    if _SHORT_CODE.match(p.category) and not (p.alias and p.alias[1] >= 1.0):
        p.review.append("a short code: needs the vendor's table, never a guess")
    if any(_is_inverted_key(_key(parent)) for parent in p.parents):
        p.review.append("inside a validity map: false may mean flagged (inverted)")
    if p.counted < LOW_SUPPORT:
        p.notes.append(f"low support: counted in {p.counted} of {n} samples")
    if len(p.how) > 1:
        p.notes.append("counted in more than one way: " + ", ".join(sorted(p.how)))
    if p.how.get("prose hint"):
        p.notes.append("read from prose")
    # The adapter advises and never proposes: on the blind sets' detectors, drafts that took its answer
    # mapped held-out outputs worse (0.341) than drafts from aliases and retrieval (0.401), and its
    # agreement hid wrong proposals from review (docs/ONBOARDING.md). Its disagreement is a flag.
    if p.alias and p.alias[1] >= ALIAS_SURE or p.alias:
        p.proposed, p.source = p.alias[0], f"aliases ({p.alias[1]:.2f})"
    elif top and top[1] >= RETRIEVAL_SUPPORT:
        p.proposed, p.source = [top[0]], f"retrieval ({top[1]:.2f})"
    else:
        p.proposed, p.source = [UNKNOWN], "none"
        p.review.append("outside the taxonomy: nothing matches it closely")
    if p.source.startswith("retrieval") and top and top[1] < RETRIEVAL_SURE:
        p.review.append(f"only retrieval proposes it, and weakly ({top[1]:.2f})")
    votes = [set(p.alias[0])] if p.alias else []
    votes += [{top[0]}] if top else []
    if len(votes) > 1 and any(v != votes[0] for v in votes[1:]) and "outside" not in " ".join(p.review):
        p.review.append("the sources disagree")
    if p.model and p.model[0] and set(p.model[0]) != set(p.proposed) and set(p.model[0]) - {SAFE, UNKNOWN}:
        p.review.append(f"the adapter answers {', '.join(p.model[0])} ({p.model[1]:.2f})")


# -- files ------------------------------------------------------------------------------------------


def draft_yaml(draft: Draft) -> dict[str, Any]:
    """The draft catalog entry (``docs/CATALOG_FORMAT.md``) with ``choices:`` and ``review:``."""
    return {
        "name": draft.name,
        "display_name": draft.name,
        "vendor": "TODO: the vendor",
        "aliases": [],
        "docs": "TODO: the documentation the format comes from",
        "format": draft.format,
        "threshold": draft.threshold,
        "min_score": None,
        "notes": (
            f"Drafted by scripts/onboard.py from {len(draft.samples)} samples "
            f"(reader: {draft.format}); review every choice, then move this file into "
            "src/llama_mapper/catalog/detectors/."
        ),
        # a category flagged for review stays out: unresolved, as without the entry, until a person
        # writes its labels (its proposal and the evidence are in review: and REVIEW.md)
        "categories": {
            p.category: [label for label in p.proposed if label != SAFE]
            for p in draft.proposals
            if not p.review
        },
        "choices": {p.category: f"proposed from {p.source}" for p in draft.proposals if not p.review},
        "review": [
            {"category": p.category, "proposed": p.proposed, "reasons": p.review}
            for p in sorted(draft.proposals, key=lambda p: -p.unsure)
            if p.review
        ],
    }


def _golden_row(name: str, i: int, output: Any, event: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"{name}-{i:03d}",
        "detector": name,
        "output": output,
        "expected": sorted(event["taxonomy"]),
        "status": "unreviewed",
    }


def report_markdown(draft: Draft) -> str:
    """The review report: the choices as a table, most unsure first."""
    fits = ", ".join(f"{f} {s:.0%}" for f, s in sorted(draft.fits.items(), key=lambda x: -x[1])) or "none"
    lines = [
        f"# Onboarding draft: {draft.name}",
        "",
        f"- samples: {len(draft.samples)} ({draft.errors} detector errors)",
        f"- reader: `{draft.format}` (catalog readers that fit: {fits})",
        f"- threshold assumed for score-only categories: {draft.threshold}",
        f"- adapter: {draft.adapter or 'not asked'}",
        f"- to review: {sum(bool(p.review) for p in draft.proposals)} of {len(draft.proposals)} categories",
        "",
        "| category | counted / seen | how | aliases | retrieval top 3 | adapter | proposed | review |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in sorted(draft.proposals, key=lambda p: -p.unsure):
        alias = f"{', '.join(p.alias[0])} ({p.alias[1]:.2f})" if p.alias else "-"
        retrieval = "<br>".join(f"{label} {score:.2f}" for label, score in p.retrieval) or "-"
        model = f"{', '.join(p.model[0])} ({p.model[1]:.2f})" if p.model else "-"
        lines.append(
            f"| `{p.category}` | {p.counted} / {p.seen} | {', '.join(sorted(p.how))} | {alias} | {retrieval} | "
            f"{model} | {', '.join(p.proposed)} ({p.source}) | {'; '.join(p.review + p.notes) or 'ok'} |"
        )
    return "\n".join(lines) + "\n"


def write_draft(draft: Draft, out_dir: str | Path, rules: RulesMapper | None = None) -> dict[str, Path]:
    """``<name>.yaml`` (the draft entry), ``<name>.golden.jsonl`` (the samples mapped with the draft,
    marked unreviewed) and ``REVIEW.md`` in ``out_dir``."""
    rules = rules or RulesMapper()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    entry = draft_yaml(draft)
    paths = {"draft": out / f"{draft.name}.yaml", "golden": out / f"{draft.name}.golden.jsonl"}
    paths["draft"].write_text(
        f"# {draft.name}: DRAFT from scripts/onboard.py, not in the catalog until a person moves it.\n"
        + yaml.safe_dump(entry, sort_keys=False, allow_unicode=True, width=100),
        encoding="utf-8",
    )
    mapper = rules_with_entry(rules, entry)
    with paths["golden"].open("w", encoding="utf-8") as fh:
        for i, output in enumerate(draft.samples, start=1):
            event = mapper.map({"detector": draft.name, "output": output})
            fh.write(json.dumps(_golden_row(draft.name, i, output, event), ensure_ascii=False) + "\n")
    paths["report"] = out / "REVIEW.md"
    paths["report"].write_text(report_markdown(draft), encoding="utf-8")
    return paths


def rules_with_entry(rules: RulesMapper, entry: dict[str, Any]) -> RulesMapper:
    detector = Detector.from_dict({k: v for k, v in entry.items() if k != "review"}, rules.taxonomy)
    others = [d for d in rules.catalog if d.name != detector.name]
    return RulesMapper(
        catalog=Catalog([*others, detector]), taxonomy=rules.taxonomy, frameworks=rules.frameworks
    )


@dataclass
class CheckResult:
    """What :func:`check_draft` found: the problems (none: ready to move in) and the mapping counts."""

    problems: list[str]
    samples: int
    changed: int
    unknown_with: int
    unknown_without: int
    agree_with_golden: int | None

    @property
    def ok(self) -> bool:
        return not self.problems


def check_draft(draft_path: str | Path, golden_path: str | Path | None = None) -> CheckResult:
    """Validate an edited draft: it loads as a catalog entry (schema, every label in the taxonomy,
    a known reader), its ``review:`` list is settled, and every sample of its golden file maps to
    something other than OTHER.Unknown. Compares the rules without the entry and with it."""
    draft_path = Path(draft_path)
    if not draft_path.is_file():
        raise FileNotFoundError(f"{draft_path}: no such draft")
    rules = RulesMapper()
    problems = []
    try:
        entry = yaml.safe_load(draft_path.read_text(encoding="utf-8"))
        if not isinstance(entry, dict):
            raise ValueError("not a YAML mapping")
        mapper = rules_with_entry(rules, entry)
    except (ValueError, TypeError, yaml.YAMLError) as err:
        return CheckResult([f"not a valid catalog entry: {err}"], 0, 0, 0, 0, None)
    name = entry["name"]
    if name in {d.name for d in load_catalog()}:
        problems.append(f"{name} is already a catalog entry")
    if entry.get("review"):
        problems.append(f"{len(entry['review'])} review item(s) left: settle each, then delete `review:`")
    todo = [k for k in ("vendor", "docs") if str(entry.get(k, "")).startswith("TODO")]
    if todo:
        problems.append(f"fill in {', '.join(todo)}")
    golden_path = Path(golden_path) if golden_path else draft_path.with_name(f"{name}.golden.jsonl")
    rows = [json.loads(line) for line in golden_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    changed = unknown_with = unknown_without = agree = 0
    reviewed = [r for r in rows if r.get("status") == "reviewed"]
    for row in rows:
        with_entry = sorted(mapper.map({"detector": name, "output": row["output"]})["taxonomy"])
        without = sorted(rules.map({"detector": name, "output": row["output"]})["taxonomy"])
        changed += with_entry != without
        unknown_with += UNKNOWN in with_entry
        unknown_without += UNKNOWN in without
        if row.get("status") == "reviewed":
            agree += with_entry == sorted(row["expected"])
    if unknown_with:
        problems.append(f"{unknown_with} of {len(rows)} samples still map to {UNKNOWN}")
    if reviewed and agree < len(reviewed):
        problems.append(f"{len(reviewed) - agree} reviewed samples disagree with the draft")
    return CheckResult(
        problems, len(rows), changed, unknown_with, unknown_without, agree if reviewed else None
    )


def onboard(
    name: str, samples_path: str | Path, out_dir: str | Path, adapter: str | None = None
) -> tuple[Draft, dict[str, Path]]:
    """The whole of ``make onboard``: read the samples, ask the three sources, write the draft."""

    samples = load_samples(samples_path)
    rules = RulesMapper()
    if rules.catalog.is_exact(name):
        raise ValueError(
            f"{name} is already in the catalog ({rules.catalog.get(name).name}): nothing to onboard"
        )
    if adapter is None:
        index = CandidateIndex.from_taxonomy(rules.taxonomy, detectors=rules.catalog)
        draft = draft_entry(name, samples, rules, index=index)
        return draft, write_draft(draft, out_dir, rules)
    with open_routes(["model"], adapter, rules=rules) as routes:
        mapper = routes.mappers["model"]

        def ask(categories: list[str], candidates: list[list[str]]) -> list[tuple[list[str], float]]:
            prompts = [
                build_prompt(name, category=c[:MAX_CATEGORY_CHARS], candidates=k)
                for c, k in zip(categories, candidates, strict=True)
            ]
            answers = mapper.backend.answer_all(prompts)
            return [(list(a.labels), mapper.calibration(a.confidence)) for a in answers]

        draft = draft_entry(name, samples, rules, mapper.index, ask, mapper.backend.model_ref)
    return draft, write_draft(draft, out_dir, rules)
