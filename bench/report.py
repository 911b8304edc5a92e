#!/usr/bin/env python
"""Run every benchmark in bench/ and write bench/RESULTS.md: each figure beside its baseline from the
same run, with the machine it ran on.

Usage:
    make bench
    python bench/report.py [--adapter outputs/smollm2-135m-lora-cpu] [--only rules,train,serve]

The demo's wall time comes from the last `make demo` (outputs/demo/demo_timing.json): a benchmark
run does not repeat a 13-minute pipeline; the report says when that file is missing or older.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCHES = {
    "rules": ["bench/rules_throughput.py"],
    "train": ["bench/train_throughput.py"],
    "serve": ["bench/serve_latency.py"],
    "load": ["bench/load_test.py"],
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--adapter", default="outputs/smollm2-135m-lora-cpu", help="the adapter for bench/serve_latency.py"
    )
    parser.add_argument(
        "--only",
        default=",".join(BENCHES),
        help="which benchmarks: rules,train,serve,load (the other sections of the output are kept)",
    )
    parser.add_argument(
        "--demo-timing", default="outputs/demo/demo_timing.json", help="the last demo's timings"
    )
    parser.add_argument("--output", default="bench/RESULTS.md")
    parser.add_argument("--rules-events", type=int, default=50_000)
    return parser.parse_args(argv)


def machine() -> dict[str, str]:
    """CPU model, cores, memory and the library versions that matter for the figures."""
    from llama_mapper.models.precision import describe_cpu

    cpu = describe_cpu()  # model, cores, AMX / AVX-512 bf16 / AVX-512
    memory = "?"
    try:
        kb = int(
            next(
                x for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal")
            ).split()[1]
        )
        memory = f"{kb / 2**20:.0f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    import torch
    import transformers
    import trl

    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": memory,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "trl": trl.__version__,
        "os": platform.platform(),
    }


def run(name: str, extra: list[str], folder: Path) -> dict | None:
    """One benchmark, its output on this console; its figures (None when it failed)."""
    out = folder / f"{name}.json"
    print(f"\n== {name}: {' '.join(BENCHES[name] + extra)}", flush=True)
    done = subprocess.run([sys.executable, *BENCHES[name], *extra, "--json", str(out)], cwd=ROOT)
    if done.returncode != 0 or not out.is_file():
        print(f"   {name} failed (exit {done.returncode})", flush=True)
        return None
    return json.loads(out.read_text())


def render(figures: dict, host: dict, demo: dict | None, demo_note: str) -> str:
    """The markdown report."""
    lines = [
        "# Benchmark results",
        "",
        f"Written by `make bench` (bench/report.py) on {datetime.date.today().isoformat()}. Every ratio compares",
        "two measurements from the same run on the same machine.",
        "",
        "| machine | |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in host.items()],
        "",
    ]
    if rules := figures.get("rules"):
        lines += [
            "## Rules route (bench/rules_throughput.py)",
            "",
            f"On {rules.get('cpu', host['cpu'])}; {rules['events']:,} distinct outputs (scores jittered, ids unique).",
            "",
            "| | events/s | per event p50 | p95 |",
            "|---|---|---|---|",
            f"| one process (compiled schema validator) | {rules['events_per_s']:,.0f} | {rules['p50_us']:.0f} us | {rules['p95_us']:.0f} us |",
            f"| {rules['workers']} worker processes (`scripts/map.py --workers`) | {rules['workers_events_per_s']:,.0f} | | |",
            f"| one process, repeated outputs (2,000 distinct) | {rules['repeated_events_per_s']:,.0f} | | |",
            f"| baseline: reference jsonschema validator | {rules['baseline_events_per_s']:,.0f} | | |",
            "",
            f"{rules['workers_events_per_s'] / rules['events_per_s']:.2f}x with {rules['workers']} processes; "
            f"{rules['events_per_s'] / rules['baseline_events_per_s']:.1f}x the baseline. Targets (issue 18): "
            f">= 50,000 events/s in one process: {'met' if rules['events_per_s'] >= 50_000 else 'NOT met'}; "
            f">= 100,000 with 2 workers: {'met' if rules['workers_events_per_s'] >= 100_000 else 'NOT met'}.",
            "",
        ]
    if serve := figures.get("serve"):
        ratio = serve["naive_p50_ms"] / serve["model_p50_ms"]
        lines += [
            "## Model route (bench/serve_latency.py, SmolLM2-135M + LoRA, warm, one request at a time)",
            "",
            "| | p50 | p95 | throughput |",
            "|---|---|---|---|",
            f"| model route: label choice under the grammar, code builds the event | {serve['model_p50_ms']:.0f} ms | {serve['model_p95_ms']:.0f} ms | {serve['throughput_rps_8_clients']:.1f} requests/s (8 clients) |",
            f"| baseline: plain generate of the full event JSON, full raw prompt, unconstrained | {serve['naive_p50_ms']:.0f} ms | {serve['naive_p95_ms']:.0f} ms | ({serve['naive_requests']} requests) |",
            f"| rules route | {serve['rules_p50_ms']:.3f} ms | {serve['rules_p95_ms']:.3f} ms | |",
            "",
            f"Model route {ratio:.1f}x faster than the baseline at p50 (target >= 5x: {'met' if ratio >= 5 else 'NOT met'}); "
            f"the original project's gate p95 <= 250 ms on a CPU: {'met' if serve['model_p95_ms'] <= 250 else 'NOT met'}; "
            f"rules p95 <= 1 ms: {'met' if serve['rules_p95_ms'] <= 1 else 'NOT met'}.",
            "",
        ]
    if train := figures.get("train"):
        rungs = train["rungs"]
        first = rungs[0]
        lines += [
            "## Training throughput (bench/train_throughput.py, the default recipe's model on this CPU)",
            "",
            "| configuration | tokens/example | s/step | tokens/s | examples/s vs TRL defaults |",
            "|---|---|---|---|---|",
            *[
                f"| {r['name']} | {r['tokens_per_example']:.0f} | {r['s_per_step']:.2f} | {r['tokens_per_s']:.0f} | {r['examples_per_s'] / first['examples_per_s']:.1f}x |"
                for r in rungs
            ],
            "",
        ]
    if load := figures.get("load"):
        lines += [
            "## Load (bench/load_test.py: POST /map, hybrid route, mixed traffic)",
            "",
            f"Measured on {load['cpu']} ({load['cores']} cores), {datetime.date.today().isoformat()}: "
            f"{load['clients']} clients over {load['tenants']} tenants for {load['seconds']:.0f} s, half catalog "
            "outputs (answered by the rules), half unfamiliar detectors with a new category spelling each (the "
            "model answers), against `serve.py --map hybrid` on 127.0.0.1 with its default limits.",
            "",
            "| | answered | p50 | p95 | p99 |",
            "|---|---|---|---|---|",
            *[
                f"| {kind} | {load[f'answered_{kind}']:,} | {load[f'{kind}_p50_ms']:.0f} ms | "
                f"{load[f'{kind}_p95_ms']:.0f} ms | {load[f'{kind}_p99_ms']:.0f} ms |"
                for kind in ("rules", "model")
            ],
            "",
            f"{load['requests_per_s']:.1f} requests/s answered; 429 rate {load['rate_429']:.1%}; lost requests "
            f"{load['lost']} (target 0: {'met' if load['lost'] == 0 else 'NOT met'}); server memory high-water "
            f"mark {load['memory_high_water_mib']:,.0f} MiB (resident {load['rss_first_mib']:,.0f} MiB after the "
            f"first second, {load['rss_last_mib']:,.0f} MiB at the end; at each tenth of the run: "
            f"{', '.join(str(v) for v in load['rss_deciles_mib'])} MiB).",
            "",
        ]
    lines += ["## The demo (make demo)", ""]
    if demo:
        lines += [
            f"Wall time of `scripts/demo.py` {demo['total_s'] / 60:.1f} min ({demo['total_s']:.0f} s; target <= 15 min "
            f"with the install, which `make demo` runs first and this figure leaves out) {demo_note}.",
            "",
            "| step | seconds |",
            "|---|---|",
            *[f"| {step} | {secs:.1f} |" for step, secs in demo["steps"].items()],
            "",
        ]
    else:
        lines += [demo_note, ""]
    return "\n".join(lines)


def sections(text: str) -> dict[str, str]:
    """A report's ``## `` sections by heading (the text before the first one under ``""``)."""
    parts = text.split("\n## ")
    found = {"": parts[0]}
    for part in parts[1:]:
        found[part.split("\n", 1)[0]] = "## " + part
    return found


def merge_sections(old: str, new: str) -> str:
    """The old report with the new report's benchmark sections in place of (or beside) its own; the
    machine table stays the old one's, as the sections kept were measured there."""
    merged, fresh = sections(old), sections(new)
    for heading, body in fresh.items():
        if heading and not heading.startswith("The demo"):
            merged[heading] = body
    demo = next(h for h in merged if h.startswith("The demo"))
    ordered = [h for h in merged if h and not h.startswith("The demo")] + [demo]
    return merged[""].rstrip("\n") + "\n\n" + "\n".join(merged[h].rstrip("\n") + "\n" for h in ordered)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wanted = [name for name in args.only.split(",") if name]
    unknown = [name for name in wanted if name not in BENCHES]
    if unknown:
        raise SystemExit(f"unknown benchmark(s) {unknown}: choose from {', '.join(BENCHES)}")
    extra = {
        "rules": ["--events", str(args.rules_events)],
        "train": [],
        "serve": ["--adapter", args.adapter],
        "load": ["--adapter", args.adapter],
    }
    with tempfile.TemporaryDirectory() as tmp:
        figures = {name: run(name, extra[name], Path(tmp)) for name in wanted}
    timing = ROOT / args.demo_timing
    if timing.is_file():
        demo = json.loads(timing.read_text())
        stamp = datetime.datetime.fromtimestamp(timing.stat().st_mtime).isoformat(timespec="minutes")
        note = f"(the last `make demo`, {stamp}, from {args.demo_timing})"
    else:
        demo, note = None, f"No demo timing at {args.demo_timing}: run `make demo` first."
    report = render({k: v for k, v in figures.items() if v}, machine(), demo, note)
    output = ROOT / args.output
    if set(wanted) != set(BENCHES) and output.is_file():  # keep the sections of the benchmarks not run
        report = merge_sections(output.read_text(encoding="utf-8"), report)
    output.write_text(report.rstrip("\n") + "\n", encoding="utf-8")
    print(f"\nwrote {args.output}")
    return 0 if all(figures.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
