"""Seconds per UD fine-tuning step of a real encoder on real CoNLL-U (docs/benchmarks.md, "UD training speed").

    python benchmarks/ud_step_time.py --model TEACHER_DIR --train cs_ud-train.conllu --dev cs_pud-dev.conllu

Runs ``--steps`` steps of the fine-tuning recipe (32 sentences x <= 128 tokens, as
benchmarks/cs_tradeoff.sh) and prints the mean training seconds per step (dev scoring excluded).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from edge_time.tasks.train import FinetuneConfig, finetune


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="HF encoder folder (e.g. the e5-small teacher)")
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--dev", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = finetune(FinetuneConfig(
            task="ud", model=args.model, train=args.train, dev=args.dev, out=Path(tmp) / "ud", max_steps=args.steps,
            eval_every=10**9, batch_size=32, learning_rate=1e-4, head_learning_rate=3e-3, max_length=128,
            progress=False))
    print(f"{result.train_seconds / result.steps:.2f} s/step, {result.train_words_per_second:.0f} words/s "
          f"over {result.steps} steps")


if __name__ == "__main__":
    main()
