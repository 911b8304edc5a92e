"""The recipe: one YAML file read by ``TrlParser`` into three dataclasses.

- :class:`ScriptArguments`: data, prompt mode, retriever and evaluation;
- :class:`MapperSFTConfig`: TRL's ``SFTConfig`` (the Trainer) plus device-aware precision;
- :class:`MapperModelConfig`: TRL's ``ModelConfig`` (base model, quantisation, LoRA) plus where LoRA goes.

Command-line flags override the YAML; unknown keys are an error, before any model loads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trl import ModelConfig, SFTConfig
from trl import ScriptArguments as TrlScriptArguments

from llama_mapper.models.precision import PRECISIONS, choose_precision

REQUIRED_COLUMNS = {
    "categories": ("labels", "categories", "category_labels", "candidates", "status", "verdict"),
    "raw": ("labels", "prompt", "completion"),
}


@dataclass
class ScriptArguments(TrlScriptArguments):
    """Data, prompt, retriever and evaluation settings of a training run (TRL's ``ScriptArguments``
    plus ours). Every field is also a command-line flag, spelled as here (``--test_eval_samples 4``).

    Parameters:
        > Data

        dataset_name (`str`, defaults to `"data/mapper-dataset"`):
            A local dataset folder (``make data``) or a Hub dataset ``org/name@v1.0.0`` (a tag, branch
            or commit sha; no ``@``: ``dataset_revision``, else the latest release tag). The resolved
            commit sha is recorded in the adapter's lineage.
        dataset_revision (`str` or `None`, defaults to `None`):
            The Hub dataset revision to pin (a tag or a commit sha) when ``dataset_name`` has no ``@``.
        dataset_train_split, dataset_test_split (`str`, from TRL: `"train"`, `"test"`):
            The splits trained on and scored at the end.
        dataset_eval_split (`str`, defaults to `"validation"`):
            The split for the evaluation loss, the task metric and model selection.
        max_train_samples (`int` or `None`, defaults to `None`):
            Train on the first N examples (categories mode: distinct category prompts). None: all.
        max_eval_samples (`int` or `None`, defaults to `None`):
            Evaluate the loss on the first N validation examples. None: all.

        > Prompt

        prompt_mode (`str`, defaults to `"categories"`):
            ``categories``: map the reader's extracted category strings (small models); ``raw``: read
            the compacted raw output (large models), from the dataset's prompt/completion columns.
        answers_first (`bool`, defaults to `False`):
            categories mode: training prompts list a category's answer labels first when its
            candidates hold them, so that the model learns to trust the ranking. Test prompts are unchanged.
        answer_only_logits (`bool`, defaults to `True`):
            Compute the LM head only where the answer's loss is (a large saving on a CPU).

        > Retriever

        retriever_epochs (`int`, defaults to `0`):
            categories mode: fine-tune the candidate retriever (all-MiniLM-L6-v2) on the train split for
            this many epochs first and re-rank every split's candidates with it. 0: keep the dataset's.
        retriever_learning_rate (`float`, defaults to `3e-5`):
            The retriever's learning rate.

        > Task metric and evaluation

        task_eval_samples (`int`, defaults to `64`):
            Validation rows whose greedy answers are scored (label exact-set) at each evaluation.
        test_eval_samples (`int` or `None`, defaults to `None`):
            Test rows scored after training. None: all; 0: none.
        eval_base_model (`bool`, defaults to `False`):
            Also score the untrained base model on the first ``base_eval_samples`` test rows.
        base_eval_samples (`int`, defaults to `150`):
            Test rows for the base model's score.
        compare_baselines (`bool`, defaults to `False`):
            Also score the non-model baselines (aliases, normalisation, embeddings) on the test rows.
        max_new_tokens (`int`, defaults to `48`):
            Answer length limit when generating.
        generation_batch_size (`int`, defaults to `32`):
            Prompts per ``generate()`` call.

        > Card

        model_card_template (`str` or `None`, defaults to `None`):
            A Jinja template of the adapter's card. None: the template shipped in the package.
    """

    dataset_name: str | None = field(
        default="data/mapper-dataset",
        metadata={"help": "Local dataset folder, or Hub dataset org/name@v1.0.0."},
    )
    dataset_revision: str | None = field(
        default=None, metadata={"help": "Hub dataset revision to pin: a tag (v1.0.0) or a commit sha."}
    )
    prompt_mode: str = field(
        default="categories",
        metadata={
            "help": "categories: map the reader's extracted categories (small models); raw: read the "
            "compacted raw output (large models), the dataset's own prompt/completion columns.",
            "choices": ["categories", "raw"],
        },
    )
    dataset_eval_split: str = field(default="validation", metadata={"help": "Split for evaluation."})
    max_train_samples: int | None = field(
        default=None,
        metadata={"help": "Train on the first N examples (categories mode: distinct category prompts)."},
    )
    max_eval_samples: int | None = field(
        default=None, metadata={"help": "Evaluate the loss on the first N validation examples."}
    )
    task_eval_samples: int = field(
        default=64, metadata={"help": "Validation rows scored by greedy exact-match at each evaluation."}
    )
    test_eval_samples: int | None = field(
        default=None, metadata={"help": "Test rows scored after training (all when unset; 0 skips)."}
    )
    eval_base_model: bool = field(
        default=False, metadata={"help": "Also score the untrained base model on the first test rows."}
    )
    base_eval_samples: int = field(default=150, metadata={"help": "Test rows for the base model's score."})
    compare_baselines: bool = field(
        default=False,
        metadata={"help": "Also score the non-model baselines (aliases, normalisation, embeddings) on test."},
    )
    retriever_epochs: int = field(
        default=0,
        metadata={
            "help": "categories mode: fine-tune the candidate retriever (all-MiniLM-L6-v2) on the train "
            "split for this many epochs first, and re-rank every split's candidates with it (0: keep the "
            "dataset's candidates)."
        },
    )
    retriever_learning_rate: float = field(default=3e-5, metadata={"help": "The retriever's learning rate."})
    answers_first: bool = field(
        default=False,
        metadata={
            "help": "categories mode: in training prompts, move a category's answer labels that are among "
            "its candidates to the front of the list, so that the model learns to trust the ranking (it "
            "cannot judge an unseen spelling better than the retriever). Test prompts are unchanged."
        },
    )
    max_new_tokens: int = field(default=48, metadata={"help": "Answer length limit when generating."})
    generation_batch_size: int = field(default=32, metadata={"help": "Prompts per generate() call."})
    answer_only_logits: bool = field(
        default=True,
        metadata={"help": "Compute the LM head only where the answer's loss is (a large saving on a CPU)."},
    )
    model_card_template: str | None = field(
        default=None,
        metadata={"help": "Jinja template of the adapter's card (default: the one shipped in the package)."},
    )

    def __post_init__(self) -> None:
        if self.prompt_mode not in ("categories", "raw"):
            raise ValueError(f"prompt_mode must be categories or raw, not {self.prompt_mode!r}")
        if not self.dataset_name:
            raise ValueError("dataset_name is required: a local dataset folder or a Hub dataset repo id")


@dataclass
class MapperSFTConfig(SFTConfig):
    """TRL's ``SFTConfig`` (every Trainer setting: ``learning_rate``, ``max_steps``, ``max_length``,
    ``eval_strategy``, ``metric_for_best_model``...) with device-aware precision, resolved before the
    Trainer checks it.

    Parameters:
        precision (`str`, defaults to `"auto"`):
            ``auto`` picks bf16 on GPUs that support it, fp16 on older GPUs (a T4), bf16 on CPUs with
            native bf16 (AMX/AVX512-BF16) and fp32 on other CPUs, so that one recipe runs everywhere.
            It overrides ``bf16``/``fp16``.
    """

    precision: str = field(
        default="auto",
        metadata={"help": "auto | bf16 | fp16 | fp32 (overrides bf16/fp16).", "choices": list(PRECISIONS)},
    )

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, not {self.precision!r}")
        import torch

        if not torch.cuda.is_available():
            self.use_cpu = True
        self.resolved_precision = choose_precision(self.precision, self.use_cpu)
        self.bf16 = self.resolved_precision == "bf16"
        self.fp16 = self.resolved_precision == "fp16"
        super().__post_init__()


@dataclass
class MapperModelConfig(ModelConfig):
    """TRL's ``ModelConfig`` (``model_name_or_path``, ``use_peft``, ``lora_r``, ``lora_alpha``,
    ``lora_target_modules``, ``load_in_4bit``...) plus where LoRA goes and the offline base model.

    Parameters:
        lora_layers (`int` or `None`, defaults to `None`):
            Put LoRA only on the last N transformer layers; the backward pass then stops there, which on
            a CPU is the largest single speed-up. None: every layer.
        offline_fallback (`bool`, defaults to `True`):
            Use the bundled GGUF of the default base model when the Hub cannot be reached.
    """

    lora_layers: int | None = field(
        default=None, metadata={"help": "LoRA only on the last N layers (None: all layers)."}
    )
    offline_fallback: bool = field(
        default=True,
        metadata={"help": "Use the bundled GGUF of the default base model when the Hub cannot be reached."},
    )
