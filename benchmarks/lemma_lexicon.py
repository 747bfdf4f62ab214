"""Lemma accuracy of a UD model with and without its lemma lexicon, split by seen / unseen forms.

    python benchmarks/lemma_lexicon.py --model UD_MODEL --train cs_ud-train.conllu --dev cs_pud-dev.conllu

One forward pass over ``--dev``; the same scores are decoded twice: the classifier alone, and
with the lexicon of ``--train`` (what `edge-time finetune --lemma-lexicon` stores). "Seen" words
are dev words whose exact form occurs in ``--train``. Accuracy is per word against the gold lemma
(words with lemma "_" count as right, as in the CoNLL 2018 script).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from edge_time.tasks.api import load_predictor
from edge_time.tasks.data import UDTask


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="UD task model folder or bundle")
    parser.add_argument("--train", type=Path, required=True, help="the CoNLL-U the lexicon is read from")
    parser.add_argument("--dev", type=Path, required=True)
    args = parser.parse_args()
    task = UDTask()
    predictor = load_predictor(args.model)
    train, dev = task.read(args.train), task.read(args.dev)
    lexicon = task.decoding_config(train, predictor.labels)["lemma_lexicon"]
    outputs = [(predictor.scores([s.forms]), s) for s in dev]
    counts: dict[tuple[str, str], list[int]] = {}
    for use_lexicon in (False, True):
        predictor.config["lemma_lexicon"] = lexicon if use_lexicon else {}
        for scores, sentence in outputs:
            lemmas = predictor.decode_ud(scores, [sentence.forms])[0].lemmas
            for word, lemma in zip(sentence.words, lemmas):
                key = ("lexicon" if use_lexicon else "classifier", "seen" if word.form in lexicon else "unseen")
                right, total = counts.setdefault(key, [0, 0])
                counts[key] = [right + (word.lemma in ("_", lemma)), total + 1]
    print("| decoding | seen forms | unseen forms | all |")
    print("|---|---:|---:|---:|")
    for mode in ("classifier", "lexicon"):
        seen, unseen = counts[(mode, "seen")], counts[(mode, "unseen")]
        cells = [f"{100 * r / t:.2f} ({t})" for r, t in (seen, unseen)]
        every = (seen[0] + unseen[0]) / (seen[1] + unseen[1])
        print(f"| {mode} | {cells[0]} | {cells[1]} | {100 * every:.2f} |")


if __name__ == "__main__":
    main()
