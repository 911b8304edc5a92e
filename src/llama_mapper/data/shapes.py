"""Synthetic detector outputs: each catalog format's real shape, and unfamiliar shapes for unknown
detectors (used by :mod:`llama_mapper.data.generator`)."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from typing import Any

from llama_mapper.catalog import Detector


def _score(rng: random.Random, counted: bool, threshold: float, near: bool) -> float:
    if counted:
        return round(
            rng.uniform(threshold, threshold + 0.08) if near else rng.uniform(max(threshold, 0.62), 0.999), 4
        )
    return round(
        rng.uniform(threshold - 0.08, threshold - 0.001)
        if near
        else rng.uniform(0.0001, min(0.3, threshold)),
        4,
    )


LLAMA_GUARD_FORMATS = ("llama_guard", "llama_guard_family")  # text verdicts: "unsafe\nS1,S10"


def vocabulary(det: Detector) -> list[str]:
    """The vendor's own category names (the spelling its real outputs use)."""
    names = [c for c, labels in det.categories.items() if labels]
    if det.format in LLAMA_GUARD_FORMATS:
        return [c for c in names if re.fullmatch(r"[SO]\d+", c)] or names
    if det.format == "openai_moderation" and isinstance(det.example, dict):
        results = det.example.get("results") or [{}]
        keys = list((results[0] or {}).get("categories") or {})
        return keys or names
    if det.format in ("perspective", "google_dlp", "aws_comprehend_pii", "presidio"):
        return [c for c in names if re.fullmatch(r"[A-Z0-9_]+", c)] or names
    if det.format == "azure_content_safety":
        return [c for c in names if c in ("Hate", "SelfHarm", "Sexual", "Violence")] or names
    if det.format == "score_dict" and isinstance(det.example, dict):
        keys = [k for k, v in det.example.items() if isinstance(v, (int, float, list))]
        return keys or names
    return names


def benign_names(det: Detector) -> list[str]:
    return [c for c, labels in det.categories.items() if not labels]


def synth_catalog_output(det: Detector, flags: dict[str, bool], rng: random.Random, near: bool) -> Any:
    """A realistic raw output of a catalog detector with the given categories flagged."""
    t = det.threshold
    fmt = det.format
    if fmt == "openai_moderation":
        cats = {c: bool(flags.get(c)) for c in vocabulary(det)}
        scores = {c: _score(rng, cats[c], t, near) for c in cats}
        result: dict[str, Any] = {
            "flagged": any(cats.values()),
            "categories": cats,
            "category_scores": scores,
        }
        if rng.random() < 0.5:
            result["category_applied_input_types"] = {c: (["text"] if cats[c] else []) for c in cats}
        return {"id": f"modr-{rng.getrandbits(40):x}", "model": "omni-moderation-latest", "results": [result]}
    if fmt in LLAMA_GUARD_FORMATS:
        on = [c for c, v in flags.items() if v]
        if not on:
            return rng.choice(["safe", "safe", "\n\nsafe", "safe\n"])
        text = "unsafe\n" + ",".join(on)
        return text if rng.random() < 0.8 else {"generated_text": text}
    if fmt == "score_dict":
        out = {c: _score(rng, bool(flags.get(c)), t, near) for c in vocabulary(det)}
        return {k: [v] for k, v in out.items()} if rng.random() < 0.2 else out
    if fmt == "label_scores":
        names = vocabulary(det) + benign_names(det)
        items = []
        on = [c for c, v in flags.items() if v]
        if not on and benign_names(det):
            items.append({"label": rng.choice(benign_names(det)), "score": round(rng.uniform(0.7, 0.999), 4)})
        for c in on:
            items.append({"label": c, "score": _score(rng, True, t, near)})
        if rng.random() < 0.5:  # top_k=None: every label
            for c in names:
                if all(i["label"] != c for i in items):
                    items.append({"label": c, "score": _score(rng, False, t, near)})
        items.sort(key=lambda i: -i["score"])
        return [items] if rng.random() < 0.2 else items
    if fmt == "perspective":
        attrs = {
            c: {
                "spanScores": [],
                "summaryScore": {"value": _score(rng, bool(flags.get(c)), t, near), "type": "PROBABILITY"},
            }
            for c in rng.sample(vocabulary(det), k=min(len(vocabulary(det)), rng.randint(3, 7)))
            if not flags.get(c)
        }
        for c, v in flags.items():
            if v:
                attrs[c] = {
                    "spanScores": [
                        {
                            "begin": 0,
                            "end": rng.randint(10, 90),
                            "score": {"value": _score(rng, True, t, near), "type": "PROBABILITY"},
                        }
                    ],
                    "summaryScore": {"value": _score(rng, True, t, near), "type": "PROBABILITY"},
                }
        return {"attributeScores": attrs, "languages": ["en"], "detectedLanguages": ["en"]}
    if fmt == "azure_content_safety":
        analyses = [
            {"category": c, "severity": (rng.choice([2, 4, 6]) if flags.get(c) else rng.choice([0, 0, 0, 1]))}
            for c in vocabulary(det)
        ]
        return {"blocklistsMatch": [], "categoriesAnalysis": analyses}
    if fmt == "google_dlp":
        findings = []
        for c, v in flags.items():
            if v:
                for _ in range(rng.randint(1, 2)):
                    findings.append(
                        {
                            "infoType": {"name": c},
                            "likelihood": rng.choice(["LIKELY", "VERY_LIKELY"]),
                            "location": {
                                "byteRange": {
                                    "start": str(rng.randint(0, 200)),
                                    "end": str(rng.randint(201, 400)),
                                }
                            },
                            "createTime": "2025-09-18T10:12:31.412Z",
                        }
                    )
        if near or rng.random() < 0.3:
            c = rng.choice(vocabulary(det))
            findings.append(
                {
                    "infoType": {"name": c},
                    "likelihood": rng.choice(["POSSIBLE", "UNLIKELY"]),
                    "createTime": "2025-09-18T10:12:31.412Z",
                }
            )
        return {"result": {"findings": findings}} if findings else {"result": {}}
    # entity lists: presidio, regex-pii, aws comprehend
    entities = []
    pos = 0
    for c, v in flags.items():
        if v:
            for _ in range(rng.randint(1, 2)):
                start = pos + rng.randint(0, 40)
                end = start + rng.randint(5, 30)
                pos = end
                score = round(rng.uniform(0.4, 1.0), 2)
                if fmt == "aws_comprehend_pii":
                    entities.append({"Score": score, "Type": c, "BeginOffset": start, "EndOffset": end})
                elif fmt == "regex_pii":
                    entities.append({"type": c, "start": start, "end": end})
                else:
                    entities.append({"entity_type": c, "start": start, "end": end, "score": score})
    if fmt == "aws_comprehend_pii":
        return {"Entities": entities}
    if fmt == "regex_pii":
        return {"matches": entities, "pii_detected": bool(entities)}
    return entities


def _entity(rng: random.Random, key: str, name: str) -> dict[str, Any]:
    start = rng.randint(0, 300)
    return {
        key: name,
        "start": start,
        "end": start + rng.randint(4, 30),
        "confidence": round(rng.uniform(0.55, 0.99), 3),
    }


# Unfamiliar shapes: (counted categories, benign categories, rng, threshold) -> output
Shape = Callable[[list[str], list[str], random.Random], Any]


def _shape_bool_map(on, off, rng):
    cats = {c: True for c in on} | {c: False for c in off}
    return {"flagged": bool(on), "categories": cats, "model": "guard-v2"}


def _shape_score_map(on, off, rng):
    return {
        "scores": {c: round(rng.uniform(0.7, 0.99), 3) for c in on}
        | {c: round(rng.uniform(0.01, 0.3), 3) for c in off}
    }


def _shape_label_list(on, off, rng):
    items = [{"label": c, "score": round(rng.uniform(0.66, 0.99), 3)} for c in on]
    items += [{"label": c, "score": round(rng.uniform(0.01, 0.3), 3)} for c in off]
    return {"results": items, "request_id": f"req_{rng.getrandbits(32):08x}"}


def _shape_entities(on, off, rng):
    return {"detections": [_entity(rng, "type", c) for c in on], "count": len(on)}


def _shape_verdict(on, off, rng):
    return {"verdict": "unsafe" if on else "safe", "violations": list(on), "latency_ms": rng.randint(5, 90)}


def _shape_inverted(on, off, rng):
    return {"checks": {c: {"is_valid": False} for c in on} | {c: {"is_valid": True} for c in off}}


def _shape_severity(on, off, rng):
    items = [{"category": c, "severity": rng.choice(["medium", "high"])} for c in on]
    items += [{"category": c, "severity": rng.choice(["none", "low"])} for c in off]
    return {"analysis": items}


def _shape_wrapped(on, off, rng):
    return {
        "data": {
            "moderation": {
                "flagged": bool(on),
                "results": {c: {"detected": True, "score": round(rng.uniform(0.6, 0.99), 2)} for c in on}
                | {c: {"detected": False, "score": round(rng.uniform(0.0, 0.3), 2)} for c in off},
            }
        },
        "status": "ok",
    }


def _shape_likelihood(on, off, rng):
    items = [{"infoType": c, "likelihood": rng.choice(["LIKELY", "VERY_LIKELY"])} for c in on]
    items += [{"infoType": c, "likelihood": rng.choice(["UNLIKELY", "POSSIBLE"])} for c in off]
    return {"findings": items}


SHAPES: tuple[Shape, ...] = (
    _shape_bool_map,
    _shape_score_map,
    _shape_label_list,
    _shape_entities,
    _shape_verdict,
    _shape_inverted,
    _shape_severity,
    _shape_wrapped,
    _shape_likelihood,
)
