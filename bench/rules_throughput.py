#!/usr/bin/env python
"""Rules-route throughput: events/s of `scripts/map.py --route rules`, whole process, start-up excluded.

Usage:
    python bench/rules_throughput.py [--events 50000]

Builds a JSONL file of realistic outputs (80% catalog detectors in their real formats, 20% unknown
detectors in unfamiliar shapes), every line distinct (scores jittered, ids unique), then maps it with
the same code path as the CLI: in one process and with `--workers` processes (`scripts/map.py
--workers`), and prints events/s and per-event latency percentiles, beside figures measured in the
same run: repeated outputs, and validation with the reference `jsonschema` validator instead of the
compiled one.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import statistics
import sys
import time
from pathlib import Path


def _jitter(value, rng: random.Random):
    """The output with every score moved a little: distinct outputs, the same shapes and labels."""
    if isinstance(value, float) and 0.0 < value <= 1.0:
        return round(value * rng.uniform(0.97, 1.0), 6)
    if isinstance(value, dict):
        return {k: _jitter(v, rng) for k, v in value.items()}
    if isinstance(value, list):
        return [_jitter(v, rng) for v in value]
    return value


def build_input(n: int, seed: int = 0, distinct: bool = True) -> str:
    """``n`` request lines drawn from 2,000 realistic outputs; ``distinct``: scores jittered and ids
    unique, so that no two lines are the same (a cache of identical outputs cannot carry a figure)."""
    from llama_mapper.data import TrainingDataGenerator

    # Production traffic is mostly known detectors: 80% catalog formats, 20% unknown detectors.
    gen = TrainingDataGenerator(seed=seed, catalog_share=0.8)
    base = [
        {"detector": ex.detector, "output": ex.output, "id": i, "tenant_id": "bench"}
        for i, ex in gen.examples(2000, "train")
    ]
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        request = rng.choice(base)
        if distinct:
            request = {**request, "id": f"e{i}", "output": _jitter(request["output"], rng)}
        lines.append(json.dumps(request) + "\n")
    return "".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--workers", type=int, default=2, help="worker processes for the second figure")
    parser.add_argument("--json", default=None, help="also write the figures here (bench/report.py)")
    args = parser.parse_args(argv)

    import jsonschema

    from llama_mapper.mapping import events as events_module
    from llama_mapper.mapping.batch import map_file
    from llama_mapper.mapping.rules import MapRequest, RulesMapper
    from llama_mapper.mapping.schema import load_schema
    from llama_mapper.models.precision import describe_cpu

    text = build_input(args.events)
    mapper = RulesMapper()
    mapper.map({"detector": "presidio", "output": []})  # warm caches (start-up excluded)

    summary = map_file(io.StringIO(text), io.StringIO(), mapper, progress=False)
    eps = summary.events_per_second
    workers = map_file(io.StringIO(text), io.StringIO(), mapper, progress=False, processes=args.workers)
    repeated = map_file(
        io.StringIO(build_input(args.events, distinct=False)), io.StringIO(), mapper, progress=False
    )

    lines = text.splitlines()[:5000]
    lat = []
    for line in lines:
        req = MapRequest.from_dict(json.loads(line))
        t = time.perf_counter()
        mapper.map(req)
        lat.append((time.perf_counter() - t) * 1e6)
    lat.sort()

    # Baseline: the same run with the reference validator.
    reference = jsonschema.Draft202012Validator(load_schema())
    original = events_module.validate_event
    events_module.validate_event = lambda e: (reference.validate(e), e)[1]
    try:
        base = map_file(io.StringIO("\n".join(lines) + "\n"), io.StringIO(), mapper, progress=False)
    finally:
        events_module.validate_event = original

    print(f"on {describe_cpu()}")
    print(
        f"rules route, distinct outputs, one process: {eps:,.0f} events/s over {summary.count:,} events "
        f"({summary.seconds:.2f} s, {summary.errors} errors)"
    )
    print(
        f"rules route, distinct outputs, {args.workers} worker processes: {workers.events_per_second:,.0f} events/s "
        f"({workers.events_per_second / eps:.2f}x one process)"
    )
    print(
        f"rules route, repeated outputs (2,000 distinct), one process: {repeated.events_per_second:,.0f} events/s"
    )
    print(
        f"per event: p50 {statistics.median(lat):.0f} us, p95 {lat[int(len(lat) * 0.95)]:.0f} us, p99 {lat[int(len(lat) * 0.99)]:.0f} us"
    )
    print(
        f"baseline (jsonschema reference validator): {base.events_per_second:,.0f} events/s -> compiled validator is {eps / base.events_per_second:.1f}x"
    )
    print(
        f"targets: >= 50,000 events/s in one process: {'met' if eps >= 50_000 else 'NOT met'}; "
        f">= 100,000 with 2 workers: {'met' if workers.events_per_second >= 100_000 else 'NOT met'}"
    )
    if args.json:
        figures = {
            "events_per_s": eps,
            "events": summary.count,
            "p50_us": statistics.median(lat),
            "p95_us": lat[int(len(lat) * 0.95)],
            "baseline_events_per_s": base.events_per_second,
            "workers": args.workers,
            "workers_events_per_s": workers.events_per_second,
            "repeated_events_per_s": repeated.events_per_second,
            "cpu": describe_cpu(),
        }
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
