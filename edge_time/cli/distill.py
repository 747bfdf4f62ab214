"""`edge-time distill`: a thin click layer over ``edge_time.distill.distill(DistillConfig(...))``."""

from __future__ import annotations

import click

from edge_time.cli.types import COUNT, FRACTION, NON_NEGATIVE, NON_NEGATIVE_FLOAT, POSITIVE_FLOAT, PROBABILITY
from edge_time.compute import PRECISIONS
from edge_time.distill.config import RELATIONS, DistillConfig
from edge_time.distill.defaults import INITS, PRESET_CHOICES
from edge_time.distill.student import PRESETS

# --size for distill and quickstart, smallest first, described from the presets themselves
SIZES = tuple(sorted(PRESETS, key=lambda name: PRESETS[name].hidden))
SIZE_HELP = "Student preset: " + ", ".join(f"{n}={PRESETS[n].hidden}/{PRESETS[n].layers}L/{PRESETS[n].heads}H"
                                           for n in SIZES) + " (hidden/layers/heads)."


@click.command("distill")
@click.option("--teacher", required=True, help="Teacher: Hugging Face folder or hub id (BERT, RoBERTa/XLM-R, "
              "ELECTRA, E5, DeBERTa-v2/v3).")
@click.option("--corpus", required=True, multiple=True, help="Text (one document per line), JSONL, Parquet "
              "or CoNLL-U (its sentences' text) file, .gz ok; or hf:NAME[:CONFIG[:SPLIT]]. Repeat for several: "
              "add the task's training file, so the trimmed vocabulary covers its words.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output folder (HF model + run state).")
@click.option("--size", type=click.Choice(SIZES), default=DistillConfig.size, show_default=True, help=SIZE_HELP)
@click.option("--hidden", type=COUNT, help="Override the preset's hidden size. Below xs, speed costs accuracy: "
              "a Czech UD student 192 wide parsed 1.2-1.3x as fast as xs, at 2.4-2.9 LAS less (docs/distillation.md).")
@click.option("--layers", type=COUNT, help="Override the preset's layer count.")
@click.option("--heads", type=COUNT, help="Override the preset's attention heads (must divide hidden).")
@click.option("--ffn", type=COUNT, help="Override the FFN size (default 4 x hidden).")
@click.option("--teacher-layer", type=COUNT, help="Teacher layer to distil, 1-based [default: min(12, layers)].")
@click.option("--relation-heads", type=COUNT, help="Relation heads A_r [default: 64 for hidden>=1024, 48 for "
              ">=768, else the teacher's heads; lowered to the largest count dividing both hidden sizes].")
@click.option("--relations", default=",".join(RELATIONS), show_default=True,
              help="Comma-separated relations with optional weights, e.g. qq,kk,vv:0.5 or qk,vv.")
@click.option("--init", type=click.Choice(INITS), default=DistillConfig.init, show_default=True,
              help="Student weights: 'teacher' cuts the student out of the teacher (evenly spaced layers, the most "
              "active hidden units, heads and FFN neurons; converges in hundreds of CPU steps), 'random' is the "
              "paper's random init; 'auto' = teacher whenever the student fits inside the teacher.")
@click.option("--hidden-loss", type=NON_NEGATIVE_FLOAT, default=DistillConfig.hidden_loss, show_default=True,
              help="Weight of a hidden-state MSE against the teacher's selected units (teacher init only).")
@click.option("--preset", type=click.Choice(PRESET_CHOICES), default=DistillConfig.preset, show_default=True,
              help="Budget defaults: cpu = 32 x 128 tokens, 300 steps (~10 min for an s student on 2 cores); "
              "gpu = 256 x 512 tokens, 10k steps; auto picks by device. Explicit options win.")
@click.option("--precision", type=click.Choice(PRECISIONS), default=DistillConfig.precision, show_default=True,
              help="bf16 autocast where the hardware has native bf16 (CUDA, AVX512-BF16/AMX, ARM BF16), else fp32.")
@click.option("--dropout", type=PROBABILITY, default=DistillConfig.dropout, show_default=True, help="Student dropout.")
@click.option("--max-length", type=COUNT, help="Chunk length in tokens (long documents are split, "
              "not truncated) [default: preset, 128 cpu / 512 gpu].")
@click.option("--pack/--no-pack", "pack_documents", default=DistillConfig.pack_documents, show_default=True,
              help="Concatenate consecutive short documents into full --max-length chunks (less padding).")
@click.option("--batch-size", type=COUNT, help="Global batch (all processes) "
              "[default: preset, 32 cpu / 256 gpu].")
@click.option("--grad-accum", type=COUNT, default=DistillConfig.grad_accum, show_default=True, help="Gradient accumulation steps.")
@click.option("--max-steps", type=COUNT, help="Training steps [default: preset, 300 cpu / 10k gpu].")
@click.option("--lr", type=POSITIVE_FLOAT, help="Peak learning rate [default: 1e-4 teacher init, 6e-4 random init].")
@click.option("--warmup-steps", type=NON_NEGATIVE, help="Warmup steps [default: 2% of --max-steps].")
@click.option("--weight-decay", type=NON_NEGATIVE_FLOAT, default=DistillConfig.weight_decay, show_default=True)
@click.option("--seed", type=int, default=DistillConfig.seed, show_default=True)
@click.option("--valid", multiple=True, help="Held-out text files [default: a slice of the corpus].")
@click.option("--valid-fraction", type=FRACTION, default=DistillConfig.valid_fraction, show_default=True)
@click.option("--save-every", type=COUNT, help="Validate + checkpoint interval "
              "[default: preset, 100 cpu / 500 gpu].")
@click.option("--log-every", type=COUNT, default=DistillConfig.log_every, show_default=True)
@click.option("--trim/--no-trim", "trim_vocab", default=DistillConfig.trim_vocab, show_default=True,
              help="Trim the vocabulary to the corpus (WordPiece/Unigram).")
@click.option("--vocab-coverage", type=FRACTION, default=DistillConfig.vocab_coverage, show_default=True,
              help="Keep the most frequent entries covering this share of corpus tokens.")
@click.option("--max-vocab", type=COUNT, help="At most this many vocabulary entries.")
@click.option("--text-field", default=DistillConfig.text_field, show_default=True, help="JSONL field / Parquet column.")
@click.option("--encoding", default=DistillConfig.encoding, show_default=True,
              help="Encoding of text/JSONL corpus files (e.g. iso-8859-2, cp1250). A file where over 1% of the "
              "bytes do not decode is refused; a few bad bytes are read as U+FFFD and reported.")
@click.option("--max-documents", type=COUNT, help="Read at most this many documents per source.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
@click.option("--overwrite", is_flag=True, help="Delete an existing run in --out and start over.")
@click.option("--trust-remote-code", is_flag=True, help="Allow the teacher's own modelling code.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def distill_command(corpus, valid, relations, size, quiet, **options):
    """Distil a tiny BERT student from a (multilingual) teacher with MiniLMv2 attention relations.

    \b
    Examples:
      edge-time distill --teacher ./e5-small --corpus cs.txt --size s --out cs-s
          # CPU: the student is cut out of the teacher, then 300 steps of 32 x 128 tokens (~10 min)
      edge-time distill --teacher ./e5-small --corpus cs.txt --corpus cs_ud-train.conllu --size xs --out cs-xs
          # the task's training text too: its words keep the teacher's pieces (fewer tokens, faster)
      edge-time distill --teacher ./e5-small --corpus cs.txt --size s --init random --max-steps 2000 --out cs-s-r
      edge-time distill --teacher xlm-roberta-large --teacher-layer 12 --relation-heads 64 \\
          --corpus cs.jsonl.gz --size m --init random --preset gpu --max-steps 200000 --out cs-m
      edge-time distill ... --out cs-s --resume        # continue after a crash
    \b
    Several processes (DDP; GPUs, or CPUs with gloo):
      accelerate launch --num_processes 4 -m edge_time.cli distill --teacher ... --out cs-s
      torchrun --nproc-per-node 4 -m edge_time.cli distill --teacher ... --out cs-s

    The output folder loads with AutoModel/AutoTokenizer and holds the trimmed tokenizer,
    distill_config.json, metrics.jsonl, a model card (README.md) and run/ (checkpoints).
    """
    from edge_time.distill import distill

    custom = all(options[k] for k in ("hidden", "layers", "heads"))
    config = DistillConfig(corpus=list(corpus), valid=list(valid) or None, size=None if custom else size,
                           relations=[r for r in relations.split(",") if r.strip()], progress=not quiet, **options)
    result = distill(config)
    click.echo(f"student written to {result}")


COMMANDS = [distill_command]
