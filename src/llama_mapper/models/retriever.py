"""The learned retriever: all-MiniLM-L6-v2 fine-tuned so that category spellings land on their label.

The small model is shown a few candidate labels per category (:mod:`llama_mapper.mapping.candidates`) and
mostly answers the first one: it cannot tell an unseen spelling's meaning better than the sentence
embeddings that rank the candidates (trained to second-guess them, it got worse: 0.68 against 0.82
on the unseen rows). What a CPU budget *can* learn is the ranking itself. Training fine-tunes the
encoder's transformer layers (its word embeddings stay frozen) so that each training category lands
on its label's description, embedded by the frozen encoder: about 30 seconds for the default recipe.

Only training material is used: the train split's (category, label) pairs and the taxonomy's text.
The index the model is then trained and evaluated with is rebuilt from the train split alone
(:func:`training_index`); held-out detectors and spellings stay unknown. The fine-tuned layers (fp16,
about 21 MB) are saved in the adapter's ``retriever/`` folder, released with it, and used by the
mapping service whenever it loads the adapter.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from llama_mapper.data.generator import TrainingDataGenerator
from llama_mapper.mapping.candidates import (
    CONFIG_FILE,
    NUM_CANDIDATES,
    WEIGHTS_FILE,
    CandidateIndex,
    Embedder,
    category_candidates,
    description_text,
    minilm_path,
    query_text,
)
from llama_mapper.resources.taxonomy import Taxonomy

logger = logging.getLogger(__name__)

BASE_ENCODER = "sentence-transformers/all-MiniLM-L6-v2"


def training_pairs(rows: Iterable[dict[str, Any]]) -> list[tuple[str, str]]:
    """Distinct (category, label) pairs of the single-label, non-safe categories of training rows."""
    pairs: dict[tuple[str, str], None] = {}
    for row in rows:
        for category, labels in zip(row["categories"], row["category_labels"], strict=True):
            if len(labels) == 1 and labels[0] != "OTHER.Safe":
                pairs[(category, labels[0])] = None
    return list(pairs)


def _respell(category: str, rng: random.Random) -> str:
    """What a vendor might send instead: the query form, sometimes with one inner letter dropped."""
    text = query_text(category)
    if rng.random() < 0.3 and len(text) > 5:
        i = rng.randrange(1, len(text) - 1)
        if text[i].isalpha():
            text = text[:i] + text[i + 1 :]
    return text


def finetune(
    pairs: Sequence[tuple[str, str]],
    taxonomy: Taxonomy,
    output_dir: str | Path,
    *,
    epochs: int = 2,
    learning_rate: float = 3e-5,
    batch_size: int = 32,
    temperature: float = 0.05,
    seed: int = 42,
    max_steps: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Fine-tune the encoder's layers on ``pairs``; save them to ``output_dir``; return its config.

    Objective: each category (respelled at random) is classified against every label's description,
    embedded once by the frozen encoder, by cosine similarity (softmax at ``temperature``).
    """
    import torch
    import torch.nn.functional as F
    from safetensors.torch import save_file
    from transformers import AutoModel, AutoTokenizer

    if not pairs:
        raise ValueError("the retriever needs (category, label) pairs: the train split has no categories")
    names = taxonomy.names
    unknown = sorted({label for _, label in pairs if label not in names})
    if unknown:
        raise ValueError(f"training pairs name labels outside {taxonomy.id}: {unknown[:5]}")
    torch.manual_seed(seed)
    rng = random.Random(seed)
    targets = Embedder()(
        [description_text(label) for label in taxonomy.labels]
    )  # frozen: what categories must land on
    tokenizer = AutoTokenizer.from_pretrained(str(minilm_path()))
    model = AutoModel.from_pretrained(str(minilm_path()))
    for name, param in model.named_parameters():
        param.requires_grad = name.startswith("encoder.")
    label_id = {name: i for i, name in enumerate(names)}

    def embed(texts: list[str]):
        enc = tokenizer(texts, padding=True, truncation=True, max_length=32, return_tensors="pt")
        hidden = model(**enc).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        return F.normalize((hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9), dim=-1)

    order = list(pairs)
    steps = epochs * -(-len(order) // batch_size)
    if max_steps is not None:
        steps = min(steps, max_steps)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=learning_rate, weight_decay=0.01)
    warmup = max(1, steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, 1 - s / steps)
    )
    model.train()
    bar = tqdm(total=steps, desc="fine-tuning the retriever", disable=not progress)
    step, losses = 0, []
    while step < steps:
        rng.shuffle(order)
        for start in range(0, len(order), batch_size):
            if step == steps:
                break
            batch = order[start : start + batch_size]
            logits = embed([_respell(category, rng) for category, _ in batch]) @ targets.T / temperature
            loss = F.cross_entropy(logits, torch.tensor([label_id[label] for _, label in batch]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(float(loss.detach()))
            step += 1
            bar.update()
            bar.set_postfix(loss=f"{sum(losses[-20:]) / len(losses[-20:]):.3f}")
    bar.close()
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    layers = {
        k: v.detach().half().contiguous() for k, v in model.state_dict().items() if k.startswith("encoder.")
    }
    save_file(layers, str(out / WEIGHTS_FILE))
    config = {
        "base": BASE_ENCODER,
        "trained": "encoder layers (word embeddings frozen)",
        "taxonomy": taxonomy.id,
        "pairs": len(pairs),
        "steps": steps,
        "epochs": epochs,
        "learning_rate": learning_rate,
        "batch_size": batch_size,
        "temperature": temperature,
        "seed": seed,
        "final_loss": round(sum(losses[-20:]) / max(1, len(losses[-20:])), 4),
    }
    (out / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    logger.info("retriever fine-tuned on %d pairs in %d steps -> %s", len(pairs), steps, out)
    return config


def training_index(
    rows: Sequence[dict[str, Any]],
    taxonomy: Taxonomy,
    embedder: Embedder,
    catalog: Iterable[Any],
    generation: dict[str, Any] | None = None,
) -> CandidateIndex:
    """The index training may use, with ``embedder``.

    For a generated dataset whose ``generation.json`` is known, the very index its stored candidates
    came from (the taxonomy's text, the spellings and catalog detectors the generator leaves to
    training), so that only the encoder differs. Otherwise the train split's own spellings and the
    catalog detectors it shows. Either way held-out detectors and spellings stay unknown.
    """
    if (
        generation
        and generation.get("seed") is not None
        and generation.get("taxonomy") in (None, taxonomy.id)
    ):
        return TrainingDataGenerator(seed=int(generation["seed"]), taxonomy=taxonomy).candidate_index(
            embedder
        )
    phrases: dict[str, list[str]] = {}
    for category, label in training_pairs(rows):
        phrase = query_text(category)
        if phrase and phrase not in phrases.setdefault(label, []):
            phrases[label].append(phrase)
    seen = {row.get("catalog_name") for row in rows} - {None}
    detectors = [det for det in catalog if det.name in seen]
    return CandidateIndex.from_taxonomy(taxonomy, phrases=phrases, detectors=detectors, embedder=embedder)


def with_candidates(dataset: Any, index: CandidateIndex, k: int = NUM_CANDIDATES) -> Any:
    """A ``datasets.Dataset`` whose ``candidates`` column comes from ``index`` (one embedding batch)."""
    candidates = category_candidates(list(dataset), index, k)
    return dataset.remove_columns("candidates").add_column("candidates", candidates)


def first_candidate_accuracy(rows: Iterable[dict[str, Any]]) -> float | None:
    """How often a row's first candidate is exactly a category's label set (categories of all rows)."""
    hits = total = 0
    for row in rows:
        for labels, candidates in zip(row["category_labels"], row["candidates"], strict=True):
            total += 1
            hits += bool(candidates) and sorted(labels) == [candidates[0]]
    return round(hits / total, 4) if total else None
