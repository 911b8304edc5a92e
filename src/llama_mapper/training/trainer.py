"""Training set-up: the dataset, the retriever, the SFT examples, the base model with LoRA and the
trainer (TRL's ``SFTTrainer`` with an answer-only loss and a task metric)."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from trl import SFTTrainer

from llama_mapper.catalog import load_catalog
from llama_mapper.data.io import DATA_FILES, load_splits, split_files
from llama_mapper.evaluation.scoring import evaluate_model, flat_metrics
from llama_mapper.hub.client import HubRef, hub_errors, resolve
from llama_mapper.mapping.candidates import CONFIG_FILE as RETRIEVER_CONFIG
from llama_mapper.mapping.candidates import RETRIEVER_DIR, load_embedder, retriever_path
from llama_mapper.mapping.prompt import category_examples
from llama_mapper.models import retriever as R
from llama_mapper.models.base_model import BaseModel, resolve_base_model
from llama_mapper.models.precision import torch_dtype_for
from llama_mapper.resources.taxonomy import load_taxonomy
from llama_mapper.training.config import REQUIRED_COLUMNS, MapperModelConfig, ScriptArguments

logger = logging.getLogger(__name__)


def fingerprint_folder(path: Path) -> str:
    """sha256 over a local dataset's files (names and bytes), to record exactly what was trained on."""
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file() and ".cache" not in p.parts):
        digest.update(str(file.relative_to(path)).encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


def load_sft_dataset(args: ScriptArguments):
    """The dataset and where it came from; fails with a clear message when it cannot be found."""
    from datasets import DatasetDict, load_dataset

    name = args.dataset_name
    local = Path(name)
    if local.exists() or name.startswith((".", "/")) or name.partition("@")[0].count("/") != 1:
        if not local.is_dir():
            raise FileNotFoundError(
                f"dataset folder {name!r} not found: generate it with `make data DATA_DIR={name}` "
                "or name a Hub dataset repo (org/name) with dataset_revision"
            )
        splits = [
            split
            for split in (args.dataset_train_split, args.dataset_eval_split, args.dataset_test_split)
            if split_files(local, split)
        ]
        if args.dataset_train_split not in splits:
            raise FileNotFoundError(f"{name!r} has no {args.dataset_train_split} split ({DATA_FILES})")
        dataset = load_splits(local, splits)
        generation = local / "generation.json"
        info = {
            "source": "local",
            "path": str(local.resolve()),
            "fingerprint": "sha256:" + fingerprint_folder(local),
            "generation": json.loads(generation.read_text()) if generation.is_file() else None,
        }
    else:
        ref = HubRef.parse(name)
        if ref.revision is None and args.dataset_revision:
            ref = HubRef(ref.repo_id, args.dataset_revision)
        found = resolve(ref, repo_type="dataset")
        with hub_errors(f"cannot load dataset {found.ref}", found.repo_id):
            dataset = load_dataset(found.repo_id, revision=found.sha)
        info = {
            "source": "hub",
            "repo": found.repo_id,
            "revision": found.revision,
            "sha": found.sha,
            "generation": hub_generation(found.repo_id, found.sha),
        }
    if not isinstance(dataset, DatasetDict) or args.dataset_train_split not in dataset:
        raise ValueError(f"dataset {name!r} has no {args.dataset_train_split!r} split")
    needed = REQUIRED_COLUMNS[args.prompt_mode]
    missing = [c for c in needed if c not in dataset[args.dataset_train_split].column_names]
    if missing:
        raise ValueError(f"dataset {name!r} lacks the columns {missing}: regenerate it with make data")
    return dataset, info


def hub_generation(repo_id: str, sha: str | None) -> dict[str, Any] | None:
    """A Hub dataset's ``generation.json`` (how ``make data`` made it), when it has one."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    try:
        path = hf_hub_download(repo_id, "generation.json", repo_type="dataset", revision=sha)
    except EntryNotFoundError:
        return None
    return json.loads(Path(path).read_text())


def train_retriever(
    dataset, args: ScriptArguments, output_dir: str | Path, seed: int = 42, generation: dict | None = None
):
    """Fine-tune the candidate retriever on the train split (or reuse the one a resumed run saved)
    and re-rank the candidates of every split with it; returns ``(dataset, info)``.

    ``info`` records the retriever's settings and how often the first candidate is right before and
    after, per split (the stored candidates come from the off-the-shelf encoder).
    """
    from datasets import DatasetDict

    taxonomy = load_taxonomy()
    train = dataset[args.dataset_train_split]
    folder = Path(output_dir) / RETRIEVER_DIR
    if retriever_path(output_dir) is None:
        config = R.finetune(
            R.training_pairs(train),
            taxonomy,
            folder,
            epochs=args.retriever_epochs,
            learning_rate=args.retriever_learning_rate,
            seed=seed,
        )
    else:
        config = json.loads((folder / RETRIEVER_CONFIG).read_text())
        logger.info("reusing the retriever fine-tuned before the interruption: %s", folder)
    index = R.training_index(
        list(train), taxonomy, load_embedder(folder, taxonomy), load_catalog(taxonomy.version), generation
    )
    before = {split: R.first_candidate_accuracy(rows) for split, rows in dataset.items()}
    dataset = DatasetDict({split: R.with_candidates(rows, index) for split, rows in dataset.items()})
    after = {split: R.first_candidate_accuracy(rows) for split, rows in dataset.items()}
    first = {split: {"before": before[split], "after": after[split]} for split in dataset}
    logger.info("first candidate right, before -> after fine-tuning the retriever: %s", first)
    return dataset, {**config, "path": RETRIEVER_DIR, "first_candidate_accuracy": first}


def answers_first(row: dict[str, Any]) -> dict[str, Any]:
    """A row whose candidates list each category's answer labels first (those the list holds, in
    answer order), then the others in retrieval order. Labels the list lacks are not added."""
    ordered = []
    for labels, candidates in zip(row["category_labels"], row.get("candidates") or [], strict=False):
        found = [label for label in labels if label in candidates]
        ordered.append(found + [c for c in candidates if c not in found])
    return {**row, "candidates": ordered} if ordered else row


def sft_examples(
    rows, mode: str, limit: int | None = None, max_repeats: int = 5, trust_ranking: bool = False
):
    """The conversational prompt/completion rows the Trainer sees.

    ``raw``: the dataset's own per-request conversations. ``categories``: one conversation per
    category, from :func:`llama_mapper.mapping.prompt.category_examples`; a prompt recurs at most
    ``max_repeats`` times (a frequent vendor code is learnt from a few, not hundreds).
    ``trust_ranking``: candidates reordered by :func:`answers_first` (the recipe's ``answers_first``).
    """
    from collections import Counter

    from datasets import Dataset

    if mode == "raw":
        return select(rows.select_columns(["prompt", "completion"]), limit)
    seen: Counter = Counter()
    examples = []
    for row in rows:
        for example in category_examples(answers_first(row) if trust_ranking else row):
            key = json.dumps(example["prompt"])
            if seen[key] < max_repeats:
                seen[key] += 1
                examples.append(example)
        if limit is not None and len(examples) >= limit:
            break
    return Dataset.from_list(examples[:limit] if limit is not None else examples)


def select(dataset, n: int | None):
    return dataset if n is None or n >= len(dataset) else dataset.select(range(n))


# ---------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------


def resolve_base(model_args: MapperModelConfig) -> BaseModel:
    revision = model_args.model_revision if model_args.model_revision != "main" else None
    return resolve_base_model(model_args.model_name_or_path, revision, model_args.offline_fallback)


def load_tokenizer(base: BaseModel):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base.path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not tokenizer.chat_template:
        raise ValueError(f"{base.model_id} has no chat template: use an instruct/chat model")
    return tokenizer


def load_model(base: BaseModel, model_args: MapperModelConfig, precision: str):
    """The base model, full precision or 4-bit NF4 (bitsandbytes) as the recipe says."""
    import torch
    from transformers import AutoModelForCausalLM
    from trl import get_quantization_config

    quantization = get_quantization_config(model_args)
    dtype = (
        torch_dtype_for(precision) if model_args.dtype in ("auto", None) else getattr(torch, model_args.dtype)
    )
    kwargs: dict[str, Any] = {"dtype": dtype, "attn_implementation": model_args.attn_implementation}
    if quantization is not None:
        # Compute in the training precision: fp16 on a T4, bf16 on an A100, fp32 on a CPU without bf16.
        quantization.bnb_4bit_compute_dtype = torch_dtype_for(precision)
        kwargs.update(quantization_config=quantization, device_map=kbit_device_map())
    model = AutoModelForCausalLM.from_pretrained(base.path, **kwargs)
    model.config.use_cache = False
    return model


def kbit_device_map() -> dict[str, Any]:
    """Quantised weights load straight onto this process's device (each rank its own GPU; or the CPU)."""
    import torch
    from accelerate import PartialState

    return {"": PartialState().local_process_index if torch.cuda.is_available() else "cpu"}


def lora_config(model_args: MapperModelConfig, num_layers: int):
    """PEFT LoRA from the recipe (r, alpha, dropout, target modules), optionally on the last layers only."""
    from trl import get_peft_config

    config = get_peft_config(model_args)
    if config is None:
        raise ValueError("the mapper trains LoRA adapters: set use_peft: true in the recipe")
    if model_args.lora_layers:
        if model_args.lora_layers > num_layers:
            raise ValueError(f"lora_layers={model_args.lora_layers} but the model has {num_layers} layers")
        if isinstance(config.target_modules, str):  # "all-linear" cannot be combined with a layer subset
            config.target_modules = [
                "q_proj",
                "k_proj",
                "v_proj",
                "o_proj",
                "gate_proj",
                "up_proj",
                "down_proj",
            ]
        config.layers_to_transform = list(range(num_layers - model_args.lora_layers, num_layers))
    return config


# ---------------------------------------------------------------------------------------------
# Trainer
# ---------------------------------------------------------------------------------------------


class MapperSFTTrainer(SFTTrainer):
    """``SFTTrainer`` with the task metric at each evaluation and an answer-only LM head.

    - ``task_rows``: validation rows whose greedy answers are scored (``eval_exact_match``,
      ``eval_parseable``) at each evaluation, so checkpoints can be chosen on the task, not the loss.
    - ``answer_only_logits``: the loss needs logits only at the answer's positions; computing the
      49k-wide LM head (and TRL's entropy metrics) for the prompt too costs most of a CPU step.
    """

    def __init__(
        self,
        *args: Any,
        task_rows: list[dict[str, Any]] | None = None,
        prompt_mode: str = "categories",
        generation_kwargs: dict[str, Any] | None = None,
        answer_only_logits: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.task_rows = task_rows or []
        self.prompt_mode = prompt_mode
        self.generation_kwargs = generation_kwargs or {}
        self.answer_only_logits = answer_only_logits

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if not self.answer_only_logits or return_outputs or "labels" not in inputs:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        import torch
        import torch.nn.functional as F

        labels = inputs["labels"]
        targets = labels[:, 1:]  # position t predicts token t+1
        columns = (targets != -100).any(0).nonzero().flatten()
        if columns.numel() == 0:
            keep = torch.arange(1, device=labels.device)
        else:
            keep = torch.arange(int(columns[0]), int(columns[-1]) + 1, device=labels.device)
        forward = {k: v for k, v in inputs.items() if k != "labels"}
        outputs = model(**forward, use_cache=False, logits_to_keep=keep)
        logits = outputs.logits.float()
        gold = targets[:, keep]
        loss_sum = F.cross_entropy(logits.flatten(0, 1), gold.flatten(), ignore_index=-100, reduction="sum")
        valid = gold != -100
        num_tokens = valid.sum() if num_items_in_batch is None else num_items_in_batch
        loss = loss_sum / torch.as_tensor(num_tokens, device=loss_sum.device).clamp(min=1)
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:
            loss = loss * self.accelerator.num_processes
        mode = "train" if model.training else "eval"
        with torch.no_grad():
            correct = ((logits.argmax(-1) == gold) & valid).sum()
            total = self.accelerator.gather_for_metrics(valid.sum()).sum()
            correct = self.accelerator.gather_for_metrics(correct).sum()
            self._metrics[mode]["mean_token_accuracy"].append((correct / total.clamp(min=1)).item())
            if mode == "train":  # the same token count TRL logs (`num_tokens`), padding excluded
                seen = self.accelerator.gather_for_metrics(inputs["attention_mask"].sum()).sum().item()
                self._total_train_tokens += seen // self._tp_size
            self._metrics[mode]["num_tokens"] = [self._total_train_tokens]
        return loss

    def task_metrics(self) -> dict[str, float]:
        """Greedy exact-set accuracy and parse rate on ``task_rows``."""
        if not self.task_rows:
            return {}
        model = self.accelerator.unwrap_model(self.model)
        scores, _ = evaluate_model(
            model, self.processing_class, self.task_rows, self.prompt_mode, **self.generation_kwargs
        )
        return flat_metrics({"all": scores["all"]})

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval"):
        metrics = super().evaluate(eval_dataset, ignore_keys, metric_key_prefix)
        if metric_key_prefix == "eval" and self.task_rows:
            # Every rank generates the same answers: sharded models (ZeRO-3, FSDP) need all ranks anyway.
            task = {f"eval_{k}": v for k, v in self.task_metrics().items()}
            self.log(task)
            metrics.update(task)
        return metrics
