"""Release gates: an adapter is pushed and tagged only when its evaluation clears every gate.

Gates (on the golden sets, for the route the release serves, ``hybrid`` by default):

- ``schema_valid``: at least 99.5% of events valid against the canonical schema;
- ``macro_f1``: macro F1 over labels at least 0.90;
- ``no_regression``: no detector's exact-set accuracy more than 1 point below the previous release
  tag's (read from that tag's ``eval_results.json``; the first release passes it);
- ``latency_p95``: p95 latency per request within the configured bound (ms).

:func:`check_gates` is pure; :func:`previous_results` reads the latest release from the Hub;
:func:`release_adapter` runs a whole release (``make release``). When a gate fails nothing is written
to the Hub (the push is never attempted).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from llama_mapper.evaluation.routes import (
    GOLDEN_SET,
    RESULTS_FILE,
    evaluate_adapter,
    load_golden,
    record_in_checkpoint,
    write_report,
)
from llama_mapper.hub.client import (
    HubError,
    Resolved,
    check_new_version,
    check_version,
    endpoint_of,
    get_api,
    hub_errors,
    release_tags,
)
from llama_mapper.hub.release import push_adapter


@dataclass(frozen=True)
class Gates:
    """The bounds a release must meet (the original project's quality gates by default)."""

    route: str = "hybrid"
    min_schema_valid: float = 0.995
    min_macro_f1: float = 0.90
    max_detector_drop: float = 0.01
    max_p95_ms: float = 250.0


@dataclass
class GateResult:
    name: str
    passed: bool
    value: Any
    bound: Any
    detail: str = ""


@dataclass
class Verdict:
    gates: list[GateResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.gates)

    @property
    def failed(self) -> list[GateResult]:
        return [g for g in self.gates if not g.passed]

    def render(self) -> str:
        """One line per gate: PASS/FAIL, the value against its bound, and by how much it missed."""
        lines = []
        for g in self.gates:
            lines.append(f"{'PASS' if g.passed else 'FAIL'}  {g.name:<14} {g.detail}")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "gates": [asdict(g) for g in self.gates]}


def check_gates(results: dict[str, Any], gates: Gates, previous: dict[str, Any] | None = None) -> Verdict:
    """Apply ``gates`` to an evaluation (``eval_results.json``) against the previous release's."""
    routes = results.get("sets", {}).get(GOLDEN_SET, {})
    if gates.route not in routes:
        raise ValueError(f"the evaluation has no {gates.route!r} route on the golden sets: {sorted(routes)}")
    m = routes[gates.route]
    verdict = Verdict()
    valid = m["schema_valid"]
    verdict.gates.append(
        GateResult(
            "schema_valid",
            valid >= gates.min_schema_valid,
            valid,
            gates.min_schema_valid,
            f"{valid:.2%} schema-valid (bound >= {gates.min_schema_valid:.1%}"
            + ("" if valid >= gates.min_schema_valid else f"; {gates.min_schema_valid - valid:.2%} short")
            + ")",
        )
    )
    f1 = m["macro_f1"]
    verdict.gates.append(
        GateResult(
            "macro_f1",
            f1 >= gates.min_macro_f1,
            f1,
            gates.min_macro_f1,
            f"macro F1 {f1:.3f} (bound >= {gates.min_macro_f1:.2f}"
            + ("" if f1 >= gates.min_macro_f1 else f"; {gates.min_macro_f1 - f1:.3f} short")
            + ")",
        )
    )
    verdict.gates.append(_regression_gate(m, gates, previous))
    p95 = m["latency_ms"]["p95"]
    verdict.gates.append(
        GateResult(
            "latency_p95",
            p95 <= gates.max_p95_ms,
            p95,
            gates.max_p95_ms,
            f"p95 {p95:.1f} ms (bound <= {gates.max_p95_ms:.0f} ms"
            + ("" if p95 <= gates.max_p95_ms else f"; {p95 - gates.max_p95_ms:.1f} ms over")
            + ")",
        )
    )
    return verdict


def _regression_gate(current: dict[str, Any], gates: Gates, previous: dict[str, Any] | None) -> GateResult:
    if previous is None:
        return GateResult(
            "no_regression", True, None, gates.max_detector_drop, "no previous release to compare with"
        )
    before = previous.get("sets", {}).get(GOLDEN_SET, {}).get(gates.route, {}).get("per_detector", {})
    if not before:
        return GateResult(
            "no_regression",
            True,
            None,
            gates.max_detector_drop,
            f"the previous release has no {gates.route} results",
        )
    drops = {}
    for name, old in before.items():
        new = current["per_detector"].get(name)
        if new is None or old.get("exact_match") is None:
            continue
        drop = old["exact_match"] - (new["exact_match"] or 0.0)
        if drop > gates.max_detector_drop + 1e-12:
            drops[name] = drop
    version = previous.get("version", "the previous release")
    if drops:
        worst = ", ".join(
            f"{name} -{drop * 100:.1f} points" for name, drop in sorted(drops.items(), key=lambda d: -d[1])
        )
        return GateResult(
            "no_regression",
            False,
            drops,
            gates.max_detector_drop,
            f"vs {version}: {worst} (bound: at most {gates.max_detector_drop * 100:.0f} point below)",
        )
    return GateResult(
        "no_regression",
        True,
        {},
        gates.max_detector_drop,
        f"vs {version}: no detector more than {gates.max_detector_drop * 100:.0f} point below ({len(before)} compared)",
    )


def previous_results(repo_id: str, api: Any = None) -> dict[str, Any] | None:
    """The latest release's ``eval_results.json`` (with its ``version``), None for a first release
    (no repo or no tag). A release without the file is treated as having no results."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError

    api = get_api(api)
    with hub_errors(f"cannot read the previous release of {repo_id}", None, api):
        try:
            tags = release_tags(repo_id, api=api)
        except RepositoryNotFoundError:
            return None
        if not tags:
            return None
        version, sha = tags[0]
        try:
            path = hf_hub_download(repo_id, RESULTS_FILE, revision=sha, endpoint=endpoint_of(api))
        except EntryNotFoundError:
            return {"version": version, "sets": {}}
    return {**json.loads(Path(path).read_text(encoding="utf-8")), "version": version}


def preflight(repo_id: str, version: str, api: Any = None) -> None:
    """Fail before any work when ``version`` cannot be released: malformed, already tagged, or older
    than the latest release. (The push checks again; this only saves a wasted evaluation.)"""
    from huggingface_hub.errors import RepositoryNotFoundError

    check_version(version)
    api = get_api(api)
    what = f"cannot release {repo_id}@{version}"
    with hub_errors(what, None, api):
        try:
            tags = dict(release_tags(repo_id, api=api))
        except RepositoryNotFoundError:
            return
    check_new_version(what, version, tags)


@dataclass
class Release:
    """What :func:`release_adapter` did."""

    results: dict[str, Any]  # the evaluation (eval_results.json, now in the checkpoint)
    verdict: Verdict
    released: Resolved | None = None  # the new tag: every gate held and the push worked
    push_error: HubError | None = None  # every gate held but the push failed


def release_adapter(
    checkpoint: str,
    repo_id: str,
    version: str,
    gates: Gates | None = None,
    golden: str | Path = "tests/fixtures/golden",
    per_detector: int | None = None,
    concurrency: int = 1,
    template: str | Path | None = None,
    private: bool = False,
    progress: bool = True,
) -> Release:
    """Evaluate ``checkpoint`` on the golden sets with the gated route, write the evaluation into it
    (report, ``llama_mapper.json``, model card), judge it against the gates and the latest release,
    and push it as ``repo_id@version`` only when every gate holds.

    :func:`preflight` runs first, so a version that cannot be released fails before the evaluation.
    Errors before the push propagate (BackendError, CheckpointError, HubError, ValueError,
    FileNotFoundError); the push's HubError is returned in ``push_error``.
    """
    gates = gates or Gates()
    preflight(repo_id, version)
    sets = {GOLDEN_SET: load_golden(golden, per_detector)}
    results, runs = evaluate_adapter(
        [gates.route], sets, checkpoint, concurrency=concurrency, progress=progress
    )
    write_report(results, runs, sets, checkpoint)
    record_in_checkpoint(checkpoint, results, template)
    release = Release(results, check_gates(results, gates, previous_results(repo_id)))
    if release.verdict.passed:
        try:
            release.released = push_adapter(checkpoint, repo_id, version, template, private)
        except HubError as err:
            release.push_error = err
    return release
