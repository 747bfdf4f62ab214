"""`edge-time finetune | evaluate | predict`: thin click layers over ``edge_time.tasks``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from edge_time.cli.types import COUNT, FRACTION, NON_NEGATIVE, POSITIVE_FLOAT, PROBABILITY, TOKEN_BUDGET
from edge_time.compute import PRECISIONS
from edge_time.runtime import PARALLEL_MODES
from edge_time.runtime.predict import BATCH_SIZE, BATCH_TOKENS
from edge_time.runtime.tasks import TASK_GRAPHS
from edge_time.tasks.config import HEAD_INITS, FinetuneConfig


@click.command("finetune")
@click.option("--task", type=click.Choice(list(TASK_GRAPHS)), required=True,
              help="ud: CoNLL-U tags, lemmas, trees; ner: CoNLL BIO; cls: JSONL {text,label}; qa: SQuAD JSON.")
@click.option("--model", required=True, help="Encoder: HF folder (a distilled student or a teacher) or hub id.")
@click.option("--train", "train_path", required=True, type=click.Path(exists=True, dir_okay=False), help="Training file.")
@click.option("--dev", "dev_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="Dev file: scored after every epoch; the best checkpoint is kept.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Task model folder to write.")
@click.option("--epochs", type=COUNT, default=FinetuneConfig.epochs, show_default=True)
@click.option("--max-steps", type=COUNT, help="Stop after this many steps (overrides --epochs).")
@click.option("--batch-size", type=COUNT, default=FinetuneConfig.batch_size, show_default=True, help="Sentences/examples per step.")
@click.option("--lr", type=POSITIVE_FLOAT, default=FinetuneConfig.learning_rate, show_default=True, help="Encoder learning rate.")
@click.option("--head-lr", type=POSITIVE_FLOAT, default=FinetuneConfig.head_learning_rate, show_default=True, help="Head learning rate.")
@click.option("--label-smoothing", type=PROBABILITY, default=FinetuneConfig.label_smoothing, show_default=True)
@click.option("--patience", type=COUNT, default=FinetuneConfig.patience, show_default=True,
              help="Stop after this many dev evaluations without improvement.")
@click.option("--eval-every", type=COUNT, help="Steps between dev evaluations [default: one epoch].")
@click.option("--max-length", type=COUNT, default=FinetuneConfig.max_length, show_default=True, help="Subword tokens per sentence.")
@click.option("--max-train-examples", type=COUNT, help="Use only the first N training examples (quick runs).")
@click.option("--seed", type=int, default=FinetuneConfig.seed, show_default=True)
@click.option("--freeze-embeddings/--train-embeddings", default=FinetuneConfig.freeze_embeddings,
              help="Keep the word embedding matrix fixed (several times faster steps for large vocabularies) or train "
              "it [default: frozen when it has >= 100k rows, e.g. XLM-R's 250k; trained otherwise].")
@click.option("--layer-decay", type=FRACTION, default=FinetuneConfig.layer_decay, show_default=True,
              help="Layer-wise lr decay: block i of L trains at lr x decay^(L-i); 1 disables it.")
@click.option("--precision", type=click.Choice(PRECISIONS), default=FinetuneConfig.precision, show_default=True,
              help="bf16 autocast where the hardware has native bf16 (CUDA, AVX512-BF16/AMX, ARM BF16), else fp32.")
@click.option("--teacher-model", type=click.Path(exists=True, file_okay=False),
              help="Task distillation: a fine-tuned task model (same task) whose soft outputs the student learns on "
              "--unlabeled text before gold fine-tuning; the student takes its label set.")
@click.option("--unlabeled", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Raw UTF-8 text for task distillation, one document per line (repeatable).")
@click.option("--distill-steps", type=NON_NEGATIVE, default=FinetuneConfig.distill_steps, show_default=True,
              help="Task-distillation steps (batches of --batch-size sentences) before gold fine-tuning.")
@click.option("--head-init", type=click.Choice(HEAD_INITS), default=FinetuneConfig.head_init, show_default=True,
              help="Start the head from --teacher-model's head, cut to the kept layers and units of a student that "
              "`edge-time distill --init teacher` cut from that teacher (auto: whenever it fits), or at random.")
@click.option("--head-mlp", type=COUNT,
              help="UD: inner width of the head's GEGLU classifiers [default: 256]. The head is a third of a small "
              "student's inference work: 128 makes the xs bundle ~1.13x as fast. A teacher-initialised head keeps "
              "the teacher's strongest units.")
@click.option("--ema", "ema_decay", type=PROBABILITY, default=FinetuneConfig.ema_decay, show_default=True,
              help="Gold fine-tuning: score, early-stop on and save an exponential moving average of the weights with "
              "this decay (0.99 averages over ~100 steps); each dev line then also shows the training weights' score. "
              "0: the weights as trained.")
@click.option("--lemma-lexicon/--no-lemma-lexicon", default=FinetuneConfig.lemma_lexicon, show_default=True,
              help="UD: store every training form's seen lemma rules; decoding picks a known form's lemma among "
              "them (the classifier alone handles unseen forms).")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out folder (only once a checkpoint is ready).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def finetune(task, model, train_path, dev_path, out, epochs, max_steps, batch_size, lr, head_lr, label_smoothing,
             patience, eval_every, max_length, max_train_examples, seed, freeze_embeddings, layer_decay, precision,
             teacher_model, unlabeled, distill_steps, head_init, head_mlp, ema_decay, lemma_lexicon, overwrite,
             quiet) -> None:
    """Fine-tune an encoder for a pipeline task; keep the best dev checkpoint in --out.

    \b
    Examples:
      edge-time finetune --task ud --model out/cs-student \\
          --train cs_pud-train.conllu --dev cs_pud-dev.conllu --out out/cs-ud
      edge-time finetune --task ner --model minilm/ --train train.conll --dev dev.conll \\
          --out out/ner --epochs 5
      # task distillation: the student first learns a fine-tuned teacher's outputs on raw text
      edge-time finetune --task ud --model out/cs-student --teacher-model out/cs-ud-teacher \\
          --unlabeled cs.txt --train cs_ud-train.conllu --dev cs_pud-dev.conllu --out out/cs-ud-s
    The folder holds the HF encoder, edge_time_task.json and head.safetensors; export it with
    `edge-time export --model out/cs-ud --target onnx`.
    """
    from edge_time.errors import EdgeTimeError
    from edge_time.tasks.train import finetune as run

    if head_mlp and task != "ud":
        raise EdgeTimeError(f"--head-mlp sizes the UD head's classifiers; the {task} head has none: drop --head-mlp")
    result = run(FinetuneConfig(task=task, model=Path(model), train=Path(train_path), dev=Path(dev_path),
                                out=Path(out), epochs=epochs, max_steps=max_steps, batch_size=batch_size,
                                learning_rate=lr, head_learning_rate=head_lr, label_smoothing=label_smoothing,
                                patience=patience, eval_every=eval_every, max_length=max_length,
                                max_train_examples=max_train_examples, seed=seed, freeze_embeddings=freeze_embeddings,
                                layer_decay=layer_decay, precision=precision,
                                teacher_model=Path(teacher_model) if teacher_model else None,
                                unlabeled=[Path(u) for u in unlabeled], distill_steps=distill_steps, head_init=head_init,
                                head={"mlp": head_mlp} if head_mlp else {}, ema_decay=ema_decay, lemma_lexicon=lemma_lexicon,
                                overwrite=overwrite,
                                progress=not quiet))
    click.echo(json.dumps({"out": str(result.out), "best_step": result.best_step, "steps": result.steps,
                           "train_seconds": round(result.train_seconds, 1),
                           "train_words_per_second": round(result.train_words_per_second, 1),
                           "dev": result.best_scores, "segmentation": result.segmentation}, indent=2))


# evaluate and predict: how --threads are used
parallel_option = click.option(
    "--parallel", type=click.Choice(PARALLEL_MODES), default="auto", show_default=True,
    help="How --threads are used: one batch at a time over all threads (ops: lowest latency per call), or that many "
         "batches at once, one thread each (batches: ONNX bundles; ~1.4-1.5x the words/s at 2 threads for small "
         "students). auto: batches for an ONNX bundle with more than one thread reading a file (--data, --input), "
         "else ops.")


batch_tokens_option = click.option(
    "--batch-tokens", type=TOKEN_BUDGET, default=BATCH_TOKENS, show_default=True,
    help="UD/NER: a batch also holds at most this many padded tokens, so long sentences run in smaller batches "
         "whose activations stay in the CPU cache (0: --batch-size alone decides).")


@click.command("evaluate")
@click.option("--model", help="Task model folder written by `edge-time finetune`.")
@click.option("--bundle", type=click.Path(exists=True, file_okay=False), help="Or an exported task bundle folder.")
@click.option("--data", required=True, type=click.Path(exists=True, dir_okay=False),
              help="Labelled file in the task's format (CoNLL-U, CoNLL, JSONL, SQuAD JSON).")
@click.option("--batch-size", type=COUNT, default=BATCH_SIZE, show_default=True)
@batch_tokens_option
@click.option("--threads", type=COUNT, help="CPU threads (default: all cores).")
@parallel_option
def evaluate(model, bundle, data, batch_size, batch_tokens, threads, parallel) -> None:
    """Score a task model or bundle: CoNLL 2018 UD metrics, seqeval F1, accuracy, SQuAD EM/F1.

    \b
    Examples:
      edge-time evaluate --model out/cs-ud --data cs_pud-dev.conllu
      edge-time evaluate --bundle out/cs-ud-onnx --data cs_pud-dev.conllu
      edge-time evaluate --bundle out/cs-ud-onnx --data cs_pud-dev.conllu --threads 2   # two batches at once
    """
    from edge_time.errors import EdgeTimeError
    from edge_time.tasks.api import evaluate as run

    if bool(model) == bool(bundle):
        raise EdgeTimeError("pass exactly one of --model (task model folder) or --bundle (exported bundle)")
    result = run(model or bundle, data, batch_size=batch_size, threads=threads, parallel=parallel,
                 batch_tokens=batch_tokens)
    click.echo(json.dumps({"scores": result.scores, "sentences": result.sentences, "words": result.words,
                           "seconds": round(result.seconds, 3),
                           "stage_seconds": {stage: round(s, 3) for stage, s in result.stage_seconds.items()},
                           "words_per_second": round(result.words_per_second, 1)}, indent=2))


@click.command("predict")
@click.option("--model", help="Task model folder written by `edge-time finetune`.")
@click.option("--bundle", type=click.Path(exists=True, file_okay=False), help="Or an exported task bundle folder.")
@click.option("--input", "input_path", type=click.Path(exists=True, dir_okay=False),
              help="Input file: .conllu / .conll / .jsonl / .json by task, else one text per line.")
@click.option("--text", multiple=True, help="Raw text to predict for (repeatable), instead of --input.")
@click.option("--pretokenized", is_flag=True, help="Text lines are space-separated words (else a simple "
              "word/punctuation tokenizer splits them).")
@click.option("--out", type=click.Path(dir_okay=False), help="Output file (CoNLL-U for UD, JSONL otherwise); "
              "stdout when omitted.")
@click.option("--batch-size", type=COUNT, default=BATCH_SIZE, show_default=True)
@batch_tokens_option
@click.option("--threads", type=COUNT, help="CPU threads (default: all cores).")
@parallel_option
def predict(model, bundle, input_path, text, pretokenized, out, batch_size, batch_tokens, threads, parallel) -> None:
    """Tag, parse, label or answer with a task model or an exported bundle.

    \b
    Examples:
      edge-time predict --model out/cs-ud --text "Praha je hlavní město České republiky."
      edge-time predict --bundle out/cs-ud-onnx --input dev.conllu --out dev.pred.conllu
      edge-time predict --bundle out/ner-onnx --input tweets.txt --pretokenized
      edge-time predict --bundle out/cs-ud-onnx --input corpus.txt --threads 4 --out corpus.conllu
    """
    from edge_time.errors import EdgeTimeError
    from edge_time.tasks.api import load_predictor, predict_file, predict_texts, write_atomic

    if bool(model) == bool(bundle):
        raise EdgeTimeError("pass exactly one of --model (task model folder) or --bundle (exported bundle)")
    if bool(input_path) == bool(text):
        raise EdgeTimeError("pass exactly one of --input FILE or --text TEXT")
    if input_path:
        result = predict_file(model or bundle, input_path, out, pretokenized, batch_size, threads, parallel,
                              batch_tokens)
    else:  # a few texts on the command line: one batch, so its latency is all that counts
        parallel = "ops" if parallel == "auto" else parallel
        result = predict_texts(load_predictor(model or bundle, batch_size, threads, parallel, batch_tokens),
                               list(text), pretokenized)
        if out:
            write_atomic(Path(out), result)
    if not out:
        click.echo(result, nl=False)


COMMANDS = [finetune, evaluate, predict]
