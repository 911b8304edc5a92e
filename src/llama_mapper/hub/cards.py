"""The adapter's model card, rendered with huggingface_hub's ``ModelCard`` from the Jinja template
shipped in the package (``llama_mapper/resources/model_cards/adapter_card.md``) or from a file."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData

TGI_IMAGE = "ghcr.io/huggingface/text-generation-inference:3.3.2"
TEMPLATES = "model_cards"  # the templates' folder inside llama_mapper.resources
ADAPTER_CARD = "adapter_card.md"

SLICE_NAMES = {
    "all": "all test rows",
    "seen": "detectors seen in training",
    "unseen": "detectors never seen in training",
    "catalog": "catalog detectors' formats",
    "synthetic": "unknown detectors, respelled categories",
    "mapped": "rows with categories for the model",
    "fixed": "rows decided without the model",
}
BASELINE_NAMES = {
    "retrieval": "the first candidate label the model is shown (catalog, else MiniLM + character n-gram retrieval)",
    "embeddings": "aliases + normalisation + MiniLM embeddings",
    "normalised": "aliases + normalisation",
    "aliases": "aliases",
    "rules-all-aliases": "reference: the full alias table (knows the held-out spellings)",
}


def card_template(template: str | Path | None = None) -> str:
    """The text of a model card template: ``None`` is the adapter card shipped in the package; a path
    is read as a file. A relative ``model_cards/<name>`` that is not a file (the templates' former
    place at the repository root, still the default of older recipes and flags) names the template
    of that name shipped in the package."""
    name = ADAPTER_CARD
    if template is not None:
        path = Path(template)
        if path.is_file():
            return path.read_text(encoding="utf-8")
        if path.is_absolute() or len(path.parts) != 2 or path.parts[0] != TEMPLATES:
            raise FileNotFoundError(f"model card template {template} not found")
        name = path.name
    shipped = resources.files("llama_mapper.resources").joinpath(TEMPLATES).joinpath(name)
    if not shipped.is_file():
        raise FileNotFoundError(f"model card template {template} not found (nor shipped in llama_mapper)")
    return shipped.read_text(encoding="utf-8")


def dataset_line(info: dict[str, Any]) -> str:
    """How the card names the training data: Hub repo and commit, or local folder and fingerprint."""
    if info.get("source") == "hub":
        return f"`{info['repo']}` at `{info.get('revision') or 'main'}` (commit `{info['sha']}`)"
    return f"local folder `{Path(info.get('path', '?')).name}` ({info.get('fingerprint', '?')[:23]}...)"


def card_data(name: str, metadata: dict[str, Any]) -> ModelCardData:
    """YAML metadata: base model, PEFT, tags, dataset and the headline results (model-index)."""
    metrics = metadata.get("metrics", {})
    dataset = metadata.get("dataset", {})
    dataset_id = dataset.get("repo") or "local/mapper-dataset"
    results = [
        EvalResult(
            task_type="text-generation",
            dataset_type=dataset_id,
            dataset_name=f"Llama Mapper test split ({label})",
            dataset_split="test",
            dataset_revision=dataset.get("sha"),
            metric_type="exact_match",
            metric_name=f"label exact-set accuracy, {label}",
            metric_value=metrics[key],
        )
        for key, label in (("test_exact_match", "all"), ("test_unseen_exact_match", "unseen detectors"))
        if key in metrics
    ]
    golden = (metadata.get("evaluation") or {}).get("golden", {})
    for route in ("hybrid", "model"):
        for key, metric in (
            ("macro_f1", "macro F1"),
            ("exact_match", "exact-set accuracy"),
            ("schema_valid", "schema-valid rate"),
        ):
            if golden.get(route, {}).get(key) is not None:
                results.append(
                    EvalResult(
                        task_type="text-generation",
                        dataset_type="llama-mapper/golden",
                        dataset_name="Llama Mapper golden sets (real vendor formats)",
                        metric_type=key,
                        metric_name=f"{metric}, {route} route",
                        metric_value=round(golden[route][key], 4),
                    )
                )
    base = metadata["base_model"]
    return ModelCardData(
        base_model=base["model_id"] if base["source"] in ("hub", "gguf") else None,
        library_name="peft",
        license="apache-2.0",
        pipeline_tag="text-generation",
        tags=["llama-mapper", "lora", "ai-safety", "compliance", metadata.get("taxonomy", "taxonomy")],
        datasets=[dataset["repo"]] if dataset.get("repo") else None,
        model_name=name,
        eval_results=results or None,
        llama_mapper={
            k: metadata.get(k)
            for k in ("taxonomy", "frameworks", "prompt_version", "prompt_mode", "base_model")
        },
    )


def render_adapter_card(
    name: str,
    metadata: dict[str, Any],
    template: str | Path | None = None,
    repo_id: str | None = None,
    version: str | None = None,
) -> ModelCard:
    """The card for an adapter folder called ``name`` from its metadata (``llama_mapper.json``).

    With ``repo_id`` and ``version`` (at push time) the card is the release's: named after the repo,
    with copy-paste usage pinned to the tag. ``template``: see :func:`card_template`.
    """
    text = card_template(template)
    metrics = metadata.get("metrics", {})
    results = [
        {
            "slice": SLICE_NAMES.get(s, s),
            "exact_match": f"{metrics[f'test_{p}exact_match']:.3f}",
            "parseable": f"{metrics.get(f'test_{p}parseable', 0):.3f}",
            "n": metrics.get(f"test_{p}n", ""),
        }
        for s in SLICE_NAMES
        if f"test_{(p := '' if s == 'all' else s + '_')}exact_match" in metrics
    ]
    base = metadata["base_model"]
    hw = metadata.get("hardware", {})
    return ModelCard.from_template(
        card_data(repo_id or name, metadata),
        template_str=text,
        model_name=f"{repo_id}@{version}" if repo_id else name,
        repo_id=repo_id,
        version=version,
        short_name=(repo_id or name).split("/")[-1],
        tgi_image=TGI_IMAGE,
        taxonomy=metadata.get("taxonomy"),
        frameworks=metadata.get("frameworks"),
        base_model=base,
        base_description=base.get("description", base["model_id"]),
        adapter=metadata.get("adapter", {}),
        method="QLoRA (4-bit NF4)" if metadata.get("adapter", {}).get("method") == "qlora" else "LoRA",
        precision=metadata.get("precision"),
        hardware=hw.get("device", "?") + (f" ({hw['cpus']} CPUs)" if hw.get("cpus") else ""),
        prompt_version=metadata.get("prompt_version"),
        prompt_mode=metadata.get("prompt_mode"),
        results=results,
        base_results=f"{metrics['base_test_exact_match']:.3f}"
        if "base_test_exact_match" in metrics
        else None,
        base_n=metrics.get("base_test_n"),
        baselines=[
            {
                "name": label,
                "all": f"{metrics[f'baseline_{key}_test_exact_match']:.3f}",
                "unseen": f"{metrics.get(f'baseline_{key}_test_unseen_exact_match', float('nan')):.3f}",
            }
            for key, label in BASELINE_NAMES.items()
            if f"baseline_{key}_test_exact_match" in metrics
        ],
        golden=[
            {
                "route": route,
                "schema_valid": f"{m['schema_valid']:.1%}",
                "exact_match": f"{m['exact_match']:.3f}",
                "macro_f1": f"{m['macro_f1']:.3f}",
                "p95": f"{m['latency_p95_ms']:.0f} ms",
            }
            for route, m in ((metadata.get("evaluation") or {}).get("golden") or {}).items()
            if m.get("macro_f1") is not None
        ],
        retriever=retriever_line(metadata.get("retriever"), metrics),
        train_minutes=round(metrics.get("train_runtime", 0) / 60, 1),
        wall_minutes=round(metrics.get("wall_time_s", 0) / 60, 1),
        dataset_line=dataset_line(metadata.get("dataset", {})),
        libraries=", ".join(f"{k} {v}" for k, v in metadata.get("libraries", {}).items()),
        created_at=metadata.get("created_at"),
    )


def retriever_line(retriever: dict[str, Any] | None, metrics: dict[str, Any]) -> str | None:
    """How the candidate retriever was fine-tuned, and what it changed on the test split."""
    if not retriever:
        return None
    first = (retriever.get("first_candidate_accuracy") or {}).get("test") or {}
    text = (
        f"all-MiniLM-L6-v2, its layers fine-tuned on {retriever['pairs']} (category, label) pairs of the "
        f"train split ({retriever['steps']} steps; `retriever/` beside this card, loaded with the adapter)"
    )
    if first.get("before") is not None and first.get("after") is not None:
        text += f"; first candidate right on the test split's categories: {first['before']:.3f} -> {first['after']:.3f}"
    unseen = metrics.get("retriever_first_candidate_test_unseen_exact_match")
    if unseen is not None:
        text += f" (as answers on the unseen rows: {unseen:.3f})"
    return text


def write_adapter_card(
    folder: str | Path, metadata: dict[str, Any], template: str | Path | None = None
) -> Path:
    """Render and write ``README.md`` into the adapter folder."""
    path = Path(folder) / "README.md"
    render_adapter_card(Path(folder).resolve().name, metadata, template).save(path)
    return path
