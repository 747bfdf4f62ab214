"""Tiny random BERT encoders with a WordPiece tokenizer, and small generated task files.

The generated language is a toy grammar (DET NOUN VERB DET NOUN .) with plural nouns, a
capitalised first word, a multi-word token and an empty node, so every UD head has
something learnable and every format feature is exercised.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

NOUNS = ["cat", "dog", "bird", "house", "tree", "car"]
VERBS = ["sees", "likes", "finds", "takes"]
DETS = ["the", "a"]
NAMES = ["anna", "boris", "clara"]
PLACES = ["paris", "rome", "oslo"]


def make_encoder(path: Path, hidden: int = 32, layers: int = 2) -> Path:
    import torch
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordPiece
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    words = sorted(set(NOUNS + VERBS + DETS + NAMES + PLACES + ["in", "is", "who", "where", "what", "lives",
                                                               "good", "bad", "very", "not"]))
    pieces = ["##s", "##es"] + [c for c in "abcdefghijklmnopqrstuvwxyz.,!?-'"] + [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz"]
    vocab = {token: i for i, token in enumerate(dict.fromkeys(specials + words + pieces))}
    tok = Tokenizer(WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2,
                        intermediate_size=2 * hidden, max_position_embeddings=128, pad_token_id=0)
    path.mkdir(parents=True, exist_ok=True)
    BertModel(config).save_pretrained(path, safe_serialization=True)
    fast.save_pretrained(path)
    return path


def _ud_sentence(rng: random.Random, index: int) -> str:
    """One CoNLL-U block: DET NOUN VERB DET NOUN PUNCT, plus MWT / empty node on some sentences."""
    subj, obj = rng.choice(NOUNS), rng.choice(NOUNS)
    subj_plural, obj_plural = rng.random() < 0.5, rng.random() < 0.5
    det1, det2 = rng.choice(DETS), rng.choice(DETS)
    verb = rng.choice(VERBS)
    rows = [
        (det1.capitalize(), det1, "DET", "DT", "Definite=" + ("Def" if det1 == "the" else "Ind"), 2, "det"),
        (subj + ("s" if subj_plural else ""), subj, "NOUN", "NNS" if subj_plural else "NN",
         "Number=" + ("Plur" if subj_plural else "Sing"), 3, "nsubj"),
        (verb, verb[:-1], "VERB", "VBZ", "Tense=Pres", 0, "root"),
        (det2, det2, "DET", "DT", "Definite=" + ("Def" if det2 == "the" else "Ind"), 5, "det"),
        (obj + ("s" if obj_plural else ""), obj, "NOUN", "NNS" if obj_plural else "NN",
         "Number=" + ("Plur" if obj_plural else "Sing"), 3, "obj"),
        (".", ".", "PUNCT", ".", "_", 3, "punct"),
    ]
    words = [r[0] for r in rows]
    lines = [f"# sent_id = s{index}", f"# text = {' '.join(words)}"]
    for i, (form, lemma, upos, xpos, feats, head, deprel) in enumerate(rows, start=1):
        if index % 5 == 0 and i == 4:
            lines.append(f"4-5\t{form}{rows[4][0]}\t_\t_\t_\t_\t_\t_\t_\t_")
        lines.append(f"{i}\t{form}\t{lemma}\t{upos}\t{xpos}\t{feats}\t{head}\t{deprel}\t_\t_")
        if index % 7 == 0 and i == 3:
            lines.append("3.1\tsees\tsee\tVERB\tVBZ\t_\t_\t_\t2:nsubj\t_")
    return "\n".join(lines) + "\n\n"


def write_ud(path: Path, n: int, seed: int) -> Path:
    rng = random.Random(seed)
    path.write_text("".join(_ud_sentence(rng, i) for i in range(n)), encoding="utf-8")
    return path


def write_ner(path: Path, n: int, seed: int) -> Path:
    rng = random.Random(seed)
    blocks = []
    for _ in range(n):
        name, place = rng.choice(NAMES), rng.choice(PLACES)
        rows = [(name, "B-PER"), ("lives", "O"), ("in", "O"), (place, "B-LOC")]
        if rng.random() < 0.5:
            rows = [("the", "O"), (rng.choice(NOUNS), "O")] + rows
        blocks.append("".join(f"{w}\t{t}\n" for w, t in rows))
    path.write_text("\n".join(blocks), encoding="utf-8")
    return path


def write_cls(path: Path, n: int, seed: int) -> Path:
    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        label = rng.choice(["pos", "neg"])
        word = "good" if label == "pos" else "bad"
        lines.append(json.dumps({"text": f"the {rng.choice(NOUNS)} is very {word}", "label": label}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_squad(path: Path, n: int, seed: int) -> Path:
    rng = random.Random(seed)
    paragraphs = []
    for i in range(n):
        name, place = rng.choice(NAMES), rng.choice(PLACES)
        context = f"{name} lives in {place} . the {rng.choice(NOUNS)} is good ."
        question, answer = rng.choice([("where lives " + name + " ?", place), ("who lives in " + place + " ?", name)])
        paragraphs.append({"context": context, "qas": [{"id": str(i), "question": question,
                                                         "answers": [{"text": answer, "answer_start": context.index(answer)}]}]})
    path.write_text(json.dumps({"version": "1.1", "data": [{"title": "toy", "paragraphs": paragraphs}]}), encoding="utf-8")
    return path


SMALL_HEAD = {"mlp": 32, "arc": 32, "rel": 16, "dropout": 0.0}
