"""One training run, as ``make train`` runs it: seed, data, retriever, tokenizer, model, trainer,
train, evaluate (validation loss and task metric, test split by slice, baselines), save the adapter
with its tokenizer, recipe, lineage and metrics, and last the card."""

from __future__ import annotations

import logging
import time

from llama_mapper.evaluation.baselines import compare_baselines, first_candidate
from llama_mapper.evaluation.scoring import evaluate_baseline, evaluate_model, flat_metrics
from llama_mapper.hub.cards import write_adapter_card
from llama_mapper.resources.taxonomy import load_taxonomy
from llama_mapper.training import artifacts as A
from llama_mapper.training import trainer as T
from llama_mapper.training.config import MapperModelConfig, MapperSFTConfig, ScriptArguments

logger = logging.getLogger("llama_mapper.train")


def train(script_args, training_args, model_args) -> dict:
    """Seed, data, tokenizer, model, trainer, train, evaluate, save, card."""
    import torch
    from transformers import set_seed

    started = time.time()
    set_seed(training_args.seed)
    precision = training_args.resolved_precision
    checkpoint = training_args.resume_from_checkpoint or A.last_checkpoint(training_args.output_dir)
    if checkpoint:
        logger.info("resuming from %s", checkpoint)

    # Data
    dataset, data_info = T.load_sft_dataset(script_args)
    mode = script_args.prompt_mode
    stored_test = dataset.get(script_args.dataset_test_split)  # the dataset's own candidates
    retriever = None
    if mode == "categories" and script_args.retriever_epochs > 0:
        with training_args.main_process_first(desc="fine-tuning the retriever"):
            dataset, retriever = T.train_retriever(
                dataset,
                script_args,
                training_args.output_dir,
                training_args.seed,
                data_info.get("generation"),
            )
    train_rows = dataset[script_args.dataset_train_split]
    train_examples = T.sft_examples(
        train_rows, mode, script_args.max_train_samples, trust_ranking=script_args.answers_first
    )
    eval_rows = (
        dataset[script_args.dataset_eval_split]
        if script_args.dataset_eval_split in dataset and training_args.eval_strategy != "no"
        else None
    )
    test_rows = (
        T.select(dataset[script_args.dataset_test_split], script_args.test_eval_samples)
        if script_args.dataset_test_split in dataset and script_args.test_eval_samples != 0
        else None
    )

    # Tokenizer and model
    base = T.resolve_base(model_args)
    logger.info("base model: %s", base.describe())
    tokenizer = T.load_tokenizer(base)
    model = T.load_model(base, model_args, precision)
    peft_config = T.lora_config(model_args, model.config.num_hidden_layers)

    # Trainer
    generation = {
        "batch_size": script_args.generation_batch_size,
        "max_new_tokens": script_args.max_new_tokens,
    }
    trainer = T.MapperSFTTrainer(
        model=model,
        args=training_args,
        train_dataset=train_examples,
        eval_dataset=T.sft_examples(eval_rows, mode, script_args.max_eval_samples) if eval_rows else None,
        processing_class=tokenizer,
        peft_config=peft_config,
        task_rows=list(T.select(eval_rows, script_args.task_eval_samples)) if eval_rows else None,
        prompt_mode=mode,
        generation_kwargs=generation,
        answer_only_logits=script_args.answer_only_logits,
    )
    trainer.model.print_trainable_parameters()
    metrics: dict = {}
    test_list = list(test_rows) if test_rows else []
    if script_args.eval_base_model and test_list and not checkpoint:
        # LoRA's B matrices start at zero: before training the adapter model is the base model.
        with torch.no_grad():
            base_rows = test_list[: script_args.base_eval_samples]
            base_scores, _ = evaluate_model(
                trainer.model, tokenizer, base_rows, mode, progress=True, **generation
            )
        metrics.update(flat_metrics(base_scores, prefix="base_test_"))

    # Train
    result = trainer.train(resume_from_checkpoint=checkpoint)
    metrics.update({f"train_{k}" if not k.startswith("train") else k: v for k, v in result.metrics.items()})

    # Evaluate: loss and task metric on validation, task metric by slice on test
    if eval_rows is not None:
        metrics.update(trainer.evaluate())
    if test_list:
        test_scores, answers = evaluate_model(
            trainer.model, tokenizer, test_list, mode, progress=True, **generation
        )
        metrics.update(flat_metrics(test_scores, prefix="test_"))
        if trainer.accelerator.is_main_process:
            A.write_predictions(training_args.output_dir, test_list, answers)
        if script_args.compare_baselines:
            # the non-model baselines see the dataset's own candidates (the off-the-shelf encoder's)
            stored = list(T.select(stored_test, len(test_list)))
            for name, scores in compare_baselines(train_rows, stored).items():
                metrics.update(flat_metrics(scores, prefix=f"baseline_{name}_test_"))
        if retriever is not None:  # what the model is shown first, from the fine-tuned retriever
            learned = evaluate_baseline(lambda row: first_candidate(row, load_taxonomy()), test_list)
            metrics.update(flat_metrics(learned, prefix="retriever_first_candidate_test_"))
    metrics["wall_time_s"] = round(time.time() - started, 1)
    trainer.log_metrics("all", metrics)

    # Save: adapter, tokenizer, recipe, lineage, metrics; the card last (the Trainer rewrites README.md)
    A.save_weights(trainer, training_args.output_dir, peft=model_args.use_peft)
    if trainer.accelerator.is_main_process:
        tokenizer.save_pretrained(training_args.output_dir)
        trainer.save_metrics("all", metrics, combined=False)
        metadata = A.run_metadata(base, data_info, precision, metrics, script_args, model_args, retriever)
        A.write_run_files(
            training_args.output_dir, A.resolved_recipe(script_args, training_args, model_args), metadata
        )
        card = write_adapter_card(training_args.output_dir, metadata, script_args.model_card_template)
        logger.info("adapter, recipe, metadata and card written to %s", card.parent)
    return metrics


def parse(argv: list[str] | None = None):
    """Recipe YAML + command line into the three dataclasses; unknown keys are an error."""
    from trl import TrlParser

    parser = TrlParser((ScriptArguments, MapperSFTConfig, MapperModelConfig))
    try:
        return parser.parse_args_and_config(args=argv)
    except (ValueError, TypeError) as err:
        raise SystemExit(f"bad recipe: {err}") from None
