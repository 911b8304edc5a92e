"""Evaluate mapping routes (rules, model, hybrid) on labelled raw requests and write the report.

Labelled requests come from the golden sets (``tests/fixtures/golden/<detector>.jsonl``: hand-checked
outputs in each vendor's real format) and from a dataset's ``test`` split (raw outputs of held-out
and unknown detectors). Each route maps every request through the same code as the service
(:class:`llama_mapper.mapping.routes.Mapper`); :mod:`llama_mapper.evaluation.metrics` scores the events.

:func:`write_report` writes ``eval_results.json``, ``eval_results.md`` (the table that
``scripts/evaluate.py`` prints) and three plots: per-detector accuracy, the most frequent confusions
and the reliability diagram.
"""

from __future__ import annotations

import concurrent.futures
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from llama_mapper.data.io import split_file
from llama_mapper.evaluation.calibration import expected_calibration_error, reliability_bins
from llama_mapper.evaluation.metrics import summarise
from llama_mapper.hub.cards import card_template, write_adapter_card
from llama_mapper.hub.checkpoints import METADATA_FILE
from llama_mapper.mapping.routes import ROUTES
from llama_mapper.mapping.schema import is_valid_event
from llama_mapper.serving.server import open_routes

RESULTS_FILE = "eval_results.json"
TABLE_FILE = "eval_results.md"
GOLDEN_SET = "golden"
TEST_SET = "test-split"


def load_golden(folder: str | Path, per_detector: int | None = None) -> list[dict[str, Any]]:
    """Every case of every ``<detector>.jsonl`` in ``folder`` (the first ``per_detector`` of each)."""
    folder = Path(folder)
    files = sorted(folder.glob("*.jsonl"))
    if not files:
        raise FileNotFoundError(f"no golden sets (*.jsonl) in {folder}")
    cases = []
    for path in files:
        with path.open(encoding="utf-8") as fh:
            rows = [json.loads(line) for line in fh if line.strip()]
        for n, case in enumerate(rows[:per_detector], start=1):
            missing = {"detector", "output", "expected"} - set(case)
            if missing:
                raise ValueError(f"{path.name} case {n} lacks {sorted(missing)}")
            # a set of many detectors in one cases.jsonl (blind2, blind3) groups by detector
            cases.append({**case, "set_detector": case["detector"] if path.stem == "cases" else path.stem})
    return cases


def load_test_split(dataset: str | Path, limit: int | None = None) -> list[dict[str, Any]]:
    """Raw requests of a local dataset's ``test`` split with their gold labels."""
    import pandas as pd

    path = split_file(dataset, "test")
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: generate the dataset with `make data`")
    frame = pd.read_parquet(path, columns=["id", "detector", "output", "labels", "detector_seen"])
    cases = []
    for row in frame.head(limit).itertuples() if limit else frame.itertuples():
        try:
            output = json.loads(row.output)
        except (TypeError, ValueError):
            output = row.output
        cases.append(
            {
                "id": row.id,
                "detector": row.detector,
                "output": output,
                "expected": list(row.labels),
                "set_detector": "seen detectors" if row.detector_seen else "unseen detectors",
            }
        )
    return cases


def run_route(
    mapper: Any, cases: Sequence[dict[str, Any]], workers: int = 1, progress: bool = True, desc: str = ""
) -> dict[str, list]:
    """Map every case; per case the event (None when mapping raised), its latency and schema validity.

    Latency is measured per request; with ``workers`` > 1 it includes the wait for a busy endpoint.
    """

    def one(case: dict[str, Any]) -> tuple[dict[str, Any] | None, float, bool]:
        start = time.perf_counter()
        try:
            event = mapper.map({"detector": case["detector"], "output": case["output"]})
        except Exception:  # noqa: BLE001 - a failed request counts as wrong and schema-invalid
            return None, (time.perf_counter() - start) * 1000, False
        return event, (time.perf_counter() - start) * 1000, is_valid_event(event)

    bar = tqdm(total=len(cases), desc=desc or f"evaluating {mapper.route}", disable=not progress, leave=False)
    results = []
    with concurrent.futures.ThreadPoolExecutor(max(1, workers)) as pool:
        for result in pool.map(one, cases):
            results.append(result)
            bar.update()
    bar.close()
    return {
        "events": [r[0] for r in results],
        "latency_ms": [r[1] for r in results],
        "valid": [r[2] for r in results],
    }


def evaluate_routes(
    mappers: Mapping[str, Any],
    sets: Mapping[str, Sequence[dict[str, Any]]],
    workers: int = 1,
    progress: bool = True,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``({set: {route: metrics}}, {set: {route: raw run}})`` for every route on every set."""
    metrics: dict[str, Any] = {}
    runs: dict[str, Any] = {}
    catalog = _catalog(mappers)
    for set_name, cases in sets.items():
        if catalog is not None:
            cases = [case | {"in_catalog": catalog.get(case["detector"]) is not None} for case in cases]
        for route, mapper in mappers.items():
            run = run_route(
                mapper, cases, workers if route != "rules" else 1, progress, f"{set_name}: {route} route"
            )
            metrics.setdefault(set_name, {})[route] = summarise(
                cases, run["events"], run["latency_ms"], run["valid"]
            )
            runs.setdefault(set_name, {})[route] = run | {"in_catalog": [c.get("in_catalog") for c in cases]}
    return metrics, runs


def _catalog(mappers: Mapping[str, Any]) -> Any:
    """The catalog the routes map with (a rules mapper's, or a model route's rules), if any."""
    for mapper in mappers.values():
        rules = getattr(mapper, "rules", mapper)
        if getattr(rules, "catalog", None) is not None:
            return rules.catalog
    return None


def headline(results: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """Per route on the golden sets: the numbers the gates and the model card use."""
    golden = results.get("sets", {}).get(GOLDEN_SET, {})
    return {
        route: {
            key: m[key]
            for key in ("schema_valid", "exact_match", "micro_f1", "macro_f1", "fallback_rate", "ece")
        }
        | {"latency_p95_ms": m["latency_ms"]["p95"]}
        for route, m in golden.items()
    }


def markdown_table(results: Mapping[str, Any]) -> str:
    """One row per (set, route), the columns of ``eval_results.json``."""
    lines = [
        "| set | route | n | schema-valid | exact-set | micro F1 | macro F1 | fallback | ECE"
        " | wrong at >= 0.8 | p50 ms | p95 ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for set_name, routes in results["sets"].items():
        for route, m in routes.items():
            lines.append(
                f"| {set_name} | {route} | {m['n']} | {m['schema_valid']:.1%} | {m['exact_match']:.3f} | "
                f"{m['micro_f1']:.3f} | {m['macro_f1']:.3f} | {m['fallback_rate']:.1%} | {m['ece']:.3f} | "
                f"{m.get('confident_wrong', 0)} of {m.get('confident_n', 0)} | "
                f"{m['latency_ms']['p50']:.1f} | {m['latency_ms']['p95']:.1f} |"
            )
    return "\n".join(lines)


def off_catalog_table(results: Mapping[str, Any]) -> str:
    """Per (set, route), the detectors outside the catalog: exact-set, and right answers among those
    at confidence >= 0.8. Empty when no set has such a detector."""
    rows = [
        (set_name, route, m["off_catalog"])
        for set_name, routes in results["sets"].items()
        for route, m in routes.items()
        if m.get("off_catalog", {}).get("n")
    ]
    if not rows:
        return ""
    lines = [
        "\n## Detectors outside the catalog\n",
        "| set | route | n | exact-set | right at >= 0.8 |",
        "|---|---|---|---|---|",
    ]
    for set_name, route, o in rows:
        share = f" ({o['confident_right'] / o['confident_n']:.0%})" if o["confident_n"] else ""
        lines.append(
            f"| {set_name} | {route} | {o['n']} | {o['exact_match']:.3f} | "
            f"{o['confident_right']} of {o['confident_n']}{share} |"
        )
    return "\n".join(lines) + "\n"


def per_detector_table(results: Mapping[str, Any], set_name: str = GOLDEN_SET) -> str:
    """Exact-set accuracy per detector (rows) and route (columns) for one set."""
    routes = results["sets"].get(set_name, {})
    if not routes:
        return ""
    names = sorted({d for m in routes.values() for d in m["per_detector"]})
    lines = ["| detector | " + " | ".join(routes) + " |", "|---|" + "---|" * len(routes)]
    for name in names:
        cells = [
            f"{routes[r]['per_detector'].get(name, {}).get('exact_match', float('nan')):.3f}" for r in routes
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_per_detector(results: Mapping[str, Any], path: Path, set_name: str = GOLDEN_SET) -> Path | None:
    """Grouped bars: exact-set accuracy per detector, one bar per route."""
    routes = results["sets"].get(set_name, {})
    if not routes:
        return None
    plt = _pyplot()
    names = sorted({d for m in routes.values() for d in m["per_detector"]})
    width = 0.8 / len(routes)
    fig, ax = plt.subplots(figsize=(max(6, 0.8 * len(names) + 2), 4.5))
    for i, (route, m) in enumerate(routes.items()):
        values = [m["per_detector"].get(n, {}).get("exact_match", 0.0) for n in names]
        ax.bar([x + i * width for x in range(len(names))], values, width, label=route)
    ax.set_xticks(
        [x + width * (len(routes) - 1) / 2 for x in range(len(names))], names, rotation=35, ha="right"
    )
    ax.set(ylabel="exact-set accuracy", ylim=(0, 1.05))
    ax.set_title(f"Per detector ({set_name})", pad=26)
    ax.axhline(0.95, color="grey", linestyle=":", linewidth=1)
    ax.legend(ncol=len(routes), loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_confusions(
    results: Mapping[str, Any], path: Path, route: str, set_name: str = GOLDEN_SET
) -> Path | None:
    """Horizontal bars: the most frequent (gold -> predicted) mistakes of one route."""
    m = results["sets"].get(set_name, {}).get(route)
    if not m:
        return None
    plt = _pyplot()
    pairs = m["confusions"]
    fig, ax = plt.subplots(figsize=(8, 0.4 * max(3, len(pairs)) + 1))
    if pairs:
        ax.barh([f"{p['gold']} -> {p['predicted']}" for p in pairs][::-1], [p["count"] for p in pairs][::-1])
    else:
        ax.text(0.5, 0.5, "no mistakes", ha="center", va="center", transform=ax.transAxes)
    ax.set(xlabel="cases", title=f"Most frequent confusions: {route} route ({set_name})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_reliability(runs: Mapping[str, Any], cases: Sequence[dict[str, Any]], path: Path) -> Path | None:
    """Accuracy against confidence per bin, one line per route, beside the diagonal: all cases, and
    (a second panel, when the set has any) the detectors outside the catalog, where >= 0.8 must mean
    at least 90% right."""
    if not runs:
        return None
    plt = _pyplot()
    first = next(iter(runs.values()))
    outside = [i for i, known in enumerate(first.get("in_catalog") or []) if known is False]
    panels = [("all detectors", list(range(len(cases))))] + (
        [("detectors outside the catalog", outside)] if outside else []
    )
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 5), squeeze=False)
    for ax, (title, idx) in zip(axes[0], panels, strict=True):
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect calibration")
        ax.axvspan(0.8, 1.0, ymin=0.0, ymax=0.9 / 1.02, color="red", alpha=0.06, label="below 90% at >= 0.8")
        for route, run in runs.items():
            events = [run["events"][i] for i in idx]
            confidence = [e["confidence"] if e else 0.0 for e in events]
            correct = [
                bool(e) and set(e["taxonomy"]) == set(cases[i]["expected"])
                for e, i in zip(events, idx, strict=True)
            ]
            points = reliability_bins(confidence, correct)
            ece = expected_calibration_error(confidence, correct)
            ax.plot(
                [x for x, _, _ in points],
                [y for _, y, _ in points],
                marker="o",
                label=f"{route} (ECE {ece:.3f})",
            )
        ax.set(
            xlabel="event confidence",
            ylabel="exact-set accuracy",
            xlim=(0, 1),
            ylim=(0, 1.02),
            title=f"Reliability: {title} (n={len(idx)})",
        )
        ax.legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_report(
    results: dict[str, Any],
    runs: Mapping[str, Any],
    sets: Mapping[str, Sequence[dict[str, Any]]],
    out_dir: str | Path,
) -> dict[str, Path]:
    """``eval_results.json``, ``eval_results.md`` and the PNG plots in ``out_dir``; returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    primary = next(iter(sets)) if sets else GOLDEN_SET
    routes = list(results["sets"].get(primary, {}))
    worst = min(routes, key=lambda r: results["sets"][primary][r]["exact_match"], default=None)
    plots = {
        "per_detector": plot_per_detector(results, out / "eval_per_detector.png", primary),
        "confusions": plot_confusions(results, out / "eval_confusions.png", worst, primary)
        if worst
        else None,
        "reliability": plot_reliability(
            runs.get(primary, {}), sets.get(primary, []), out / "eval_reliability.png"
        ),
    }
    results = {**results, "plots": {k: p.name for k, p in plots.items() if p}}
    paths = {"results": out / RESULTS_FILE, "table": out / TABLE_FILE}
    paths["results"].write_text(json.dumps(_finite(results), indent=2) + "\n", encoding="utf-8")
    paths["table"].write_text(
        "# Evaluation\n\n"
        + markdown_table(results)
        + "\n\n## Per detector\n\n"
        + per_detector_table(results, primary)
        + "\n"
        + off_catalog_table(results),
        encoding="utf-8",
    )
    return paths | {k: p for k, p in plots.items() if p}


def _finite(value: Any) -> Any:
    """NaN (no cases) as null: strict JSON."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def record_in_checkpoint(
    folder: str | Path, results: Mapping[str, Any], template: str | Path | None = None
) -> bool:
    """Put the golden-set headline in the adapter's ``llama_mapper.json`` and re-render its card (whose
    ``model-index`` then carries it). False when ``folder`` is not an adapter folder."""
    path = Path(folder) / METADATA_FILE
    if not path.is_file():
        return False
    metadata = json.loads(path.read_text(encoding="utf-8"))
    metadata["evaluation"] = {
        "golden": _finite(headline(results)),
        "cases": {name: next(iter(r.values()))["n"] for name, r in results["sets"].items() if r},
        "evaluated_at": results.get("evaluated_at"),
    }
    path.write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
    try:
        card_template(template)  # a file, or a template shipped in the package
    except FileNotFoundError:
        return True  # no such template: the card is left as it is
    write_adapter_card(folder, metadata, template)
    return True


def results_document(metrics: dict[str, Any], backend: Any, rules: Any) -> dict[str, Any]:
    """The evaluation with what produced it: versions, adapter and commit, machine and time."""
    import datetime
    import platform

    return {
        "sets": metrics,
        "versions": {
            "taxonomy": rules.taxonomy.id,
            "frameworks": rules.frameworks.id,
            "adapter": backend.model_ref if backend is not None else None,
            "adapter_sha": backend.sha if backend is not None else None,
        },
        "machine": {"platform": platform.platform(), "python": platform.python_version()},
        "evaluated_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def evaluate_adapter(
    routes: Sequence[str],
    sets: Mapping[str, Sequence[dict[str, Any]]],
    adapter: str | None = None,
    endpoint: str | None = None,
    api_key: str | None = None,
    thresholds: Mapping[str, float] | None = None,
    concurrency: int = 8,
    progress: bool = True,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Evaluate ``routes`` on ``sets``; the model routes ask ``adapter`` on ``endpoint`` (default: a
    local server started for the run). Returns the results document and the raw runs."""
    with open_routes(routes, adapter, endpoint, api_key, thresholds) as opened:
        metrics, runs = evaluate_routes(opened.mappers, sets, concurrency, progress)
    return results_document(metrics, opened.backend, opened.rules), runs


@dataclass
class Evaluation:
    """What :func:`run_evaluation` produced."""

    results: dict[str, Any]  # the results document (eval_results.json)
    paths: dict[str, Path]  # what write_report wrote: results, table and the plots
    card: Path | None = None  # the adapter's model card, when it was re-rendered with the results


def run_evaluation(
    routes: Sequence[str] | None = None,
    adapter: str | None = None,
    golden: str | Path = "tests/fixtures/golden",
    per_detector: int | None = None,
    dataset: str | Path | None = "data/mapper-dataset",
    test_rows: int | None = None,
    endpoint: str | None = None,
    api_key: str | None = None,
    thresholds: Mapping[str, float] | None = None,
    concurrency: int = 8,
    output_dir: str | Path | None = None,
    card_template: str | Path | None = None,
    progress: bool = True,
) -> Evaluation:
    """Evaluate ``routes`` (default: all with an adapter, else rules) on the golden sets and, when
    ``dataset`` is a folder, its test split; write the report into ``output_dir`` (default: a local
    adapter's folder, else ``outputs/eval``). Into a local adapter's own folder, the golden-set
    headline is also recorded in its ``llama_mapper.json`` and its model card re-rendered."""
    routes = list(routes) if routes else (list(ROUTES) if adapter else ["rules"])
    sets = {GOLDEN_SET: load_golden(golden, per_detector)}
    if dataset and Path(dataset).is_dir():
        sets[TEST_SET] = load_test_split(dataset, test_rows)
    results, runs = evaluate_adapter(
        routes, sets, adapter, endpoint, api_key, thresholds, concurrency, progress=progress
    )
    folder = adapter if adapter and Path(adapter).is_dir() else None  # not a Hub cache
    paths = write_report(results, runs, sets, Path(output_dir or folder or "outputs/eval"))
    recorded = folder and not output_dir and record_in_checkpoint(folder, results, card_template)
    return Evaluation(results, paths, Path(folder) / "README.md" if recorded else None)
