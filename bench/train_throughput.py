#!/usr/bin/env python
"""Training throughput of the default CPU recipe, with and without the project's speed choices.

Usage:
    python bench/train_throughput.py [--steps 4] [--batch-size 16] [--profile]

One run measures a ladder of configurations on the same model (SmolLM2-135M-Instruct, LoRA r=16)
and the same generated rows, each rung adding one choice to the one before:

    0  TRL defaults on a CPU: raw-output prompts, fp32, gradient checkpointing, LoRA on every layer,
       TRL's loss (the 49k-wide LM head and its entropy for every token)
    1  + category prompts (the reader extracts categories; ~4x shorter rows)
    2  + no gradient checkpointing (a 135M model fits; recomputation only costs time)
    3  + answer-only LM head (logits only where the loss is)
    4  + LoRA on the last 10 of 30 layers (the backward pass stops there)
    5  + bf16 autocast on CPUs with AMX/AVX512-BF16 (fp32 elsewhere): the shipped recipe

and prints tokens/s and examples/s with the ratio to rung 0. ``--profile`` adds where the time goes
in the last rung (torch profiler, top operators).
"""

from __future__ import annotations

import argparse
import time


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=4, help="timed optimizer steps per rung")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--profile", action="store_true", help="profile the last rung")
    parser.add_argument("--json", default=None, help="also write the figures here (bench/report.py)")
    return parser.parse_args(argv)


RUNGS = [
    ("TRL defaults (raw prompts, fp32, grad. checkpointing, all layers, full LM head)", {}),
    ("+ category prompts", {"mode": "categories"}),
    ("+ no gradient checkpointing", {"gradient_checkpointing": False}),
    ("+ answer-only LM head", {"answer_only_logits": True}),
    ("+ LoRA on the last 10 layers", {"lora_layers": 10}),
    ("+ bf16 autocast where the CPU has it (the recipe)", {"precision": "auto"}),
]


def measure(settings: dict, rows, base, args) -> dict:
    """Train ``warmup + steps`` steps with one configuration; time the last ``steps``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback

    from llama_mapper.training.config import MapperModelConfig, MapperSFTConfig
    from llama_mapper.training.trainer import MapperSFTTrainer, lora_config, sft_examples

    class Clock(TrainerCallback):
        def __init__(self) -> None:
            self.marks: list[float] = []

        def on_step_end(self, *_, **__) -> None:
            self.marks.append(time.perf_counter())

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(base.path)
    model = AutoModelForCausalLM.from_pretrained(base.path, dtype=torch.float32)
    model_args = MapperModelConfig(
        model_name_or_path=base.model_id,
        use_peft=True,
        lora_r=16,
        lora_alpha=32,
        lora_dropout=0.0,
        lora_target_modules=["all-linear"],
        lora_layers=settings.get("lora_layers"),
    )
    train = sft_examples(rows, settings.get("mode", "raw"), args.batch_size * (args.warmup + args.steps))
    config = MapperSFTConfig(
        output_dir="/tmp/llama-mapper-bench",
        precision=settings.get("precision", "fp32"),
        per_device_train_batch_size=args.batch_size,
        max_steps=args.warmup + args.steps,
        max_length=1024,
        learning_rate=1e-4,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        gradient_checkpointing=settings.get("gradient_checkpointing", True),
        seed=0,
    )
    clock = Clock()
    trainer = MapperSFTTrainer(
        model=model,
        args=config,
        train_dataset=train,
        processing_class=tokenizer,
        peft_config=lora_config(model_args, model.config.num_hidden_layers),
        answer_only_logits=settings.get("answer_only_logits", False),
        callbacks=[clock],
    )
    trainer.train()
    tokens = [e["num_tokens"] for e in trainer.state.log_history if "num_tokens" in e]
    seconds = clock.marks[-1] - clock.marks[args.warmup - 1]
    timed_tokens = tokens[-1] - tokens[args.warmup - 1]
    return {
        "tokens_per_s": timed_tokens / seconds,
        "examples_per_s": args.steps * args.batch_size / seconds,
        "s_per_step": seconds / args.steps,
        "tokens_per_example": timed_tokens / (args.steps * args.batch_size),
        "precision": config.resolved_precision,
        "trainer": trainer,
    }


def profile(trainer, steps: int = 2) -> str:
    """Top operators of a few more steps of an already built trainer."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    trainer.args.max_steps = trainer.state.global_step + steps
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        trainer.train(resume_from_checkpoint=None)
    return prof.key_averages().table(sort_by="cpu_time_total", row_limit=12, max_name_column_width=60)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import os

    from llama_mapper.data import TrainingDataGenerator
    from llama_mapper.models.base_model import EMBEDDED_BASE, resolve_base_model

    base = resolve_base_model(EMBEDDED_BASE)
    rows = TrainingDataGenerator(seed=11).generate_dataset(size=600, eval_size=1)["train"]
    rows = rows.filter(lambda r: len(r["categories"]) > 0)  # rows a model must map
    print(
        f"base model: {base.describe()}; {os.cpu_count()} CPUs; batch {args.batch_size}; {args.steps} steps a rung"
    )
    results = []
    settings: dict = {}
    for name, change in RUNGS:
        settings = {**settings, **change}
        result = measure(settings, rows, base, args)
        results.append((name, result))
        print(f"  measured: {name}: {result['tokens_per_s']:.0f} tokens/s", flush=True)

    first = results[0][1]
    print()
    print("| configuration | tokens/example | s/step | tokens/s | examples/s | examples/s vs TRL defaults |")
    print("|---|---|---|---|---|---|")
    for name, r in results:
        print(
            f"| {name} | {r['tokens_per_example']:.0f} | {r['s_per_step']:.2f} | {r['tokens_per_s']:.0f} "
            f"| {r['examples_per_s']:.2f} | {r['examples_per_s'] / first['examples_per_s']:.1f}x |"
        )
    last = results[-1][1]
    print(
        f"\nThe recipe ({last['precision']}) trains {last['examples_per_s'] / first['examples_per_s']:.1f}x more "
        f"examples/s and {last['tokens_per_s'] / first['tokens_per_s']:.1f}x more tokens/s than TRL's defaults "
        "in this run."
    )
    if args.json:
        import json
        from pathlib import Path

        keys = ("tokens_per_example", "s_per_step", "tokens_per_s", "examples_per_s", "precision")
        figures = {"rungs": [{"name": name, **{k: r[k] for k in keys}} for name, r in results]}
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    if args.profile:
        print("\nWhere the time goes in the recipe's steps (torch profiler):")
        print(profile(last["trainer"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
