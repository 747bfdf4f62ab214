"""Tiny teachers (BERT + WordPiece, XLM-R + Unigram, DeBERTa-v2 + Unigram) and generated text.

Text comes from two made-up "languages" with different alphabets; tokenizers are trained on
both, the distillation corpus is language A only, so vocabulary trimming has work to do.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

SYLLABLES_A = [c + v for c in "kmnprstvl" for v in "aeiou"]
SYLLABLES_B = [c + v for c in "žšřčďťň" for v in "áéíóů"]


def make_words(syllables: list[str], n: int, rng: random.Random) -> list[str]:
    words = set()
    while len(words) < n:
        words.add("".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))))
    return sorted(words)


def make_lines(words: list[str], n: int, rng: random.Random, long_every: int = 25) -> list[str]:
    weights = [1.0 / (i + 1) for i in range(len(words))]  # Zipf-like
    lines = []
    for i in range(n):
        length = rng.randint(150, 260) if i % long_every == 0 else rng.randint(4, 24)
        sentence = rng.choices(words, weights, k=length)
        lines.append((" ".join(sentence)).capitalize() + rng.choice([".", "!", "?", ","]))
    return lines


@pytest.fixture(scope="session")
def texts() -> dict[str, list[str]]:
    rng = random.Random(7)
    words_a = make_words(SYLLABLES_A, 300, rng)
    words_b = make_words(SYLLABLES_B, 300, rng)
    return {
        "train_a": make_lines(words_a, 400, rng),
        "heldout_a": make_lines(words_a, 120, rng),
        "mixed": make_lines(words_a, 300, rng) + make_lines(words_b, 300, rng),
    }


@pytest.fixture(scope="session")
def corpus_file(tmp_path_factory, texts) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "train_a.txt"
    path.write_text("\n".join(texts["train_a"]) + "\n", encoding="utf-8")
    return path


def _save_fast(tok, folder: Path, **specials) -> None:
    from transformers import PreTrainedTokenizerFast

    PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=512, **specials).save_pretrained(folder)


def build_wordpiece(lines: list[str], folder: Path) -> None:
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.train_from_iterator(lines, trainers.WordPieceTrainer(vocab_size=700, special_tokens=specials))
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))])
    _save_fast(tok, folder, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]",
               mask_token="[MASK]")


def build_unigram(lines: list[str], folder: Path) -> None:
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.train_from_iterator(lines, trainers.UnigramTrainer(vocab_size=700, special_tokens=specials,
                                                           unk_token="<unk>"))
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
    _save_fast(tok, folder, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>",
               cls_token="<s>", sep_token="</s>", mask_token="<mask>")


def build_teacher(kind: str, folder: Path, lines: list[str]) -> Path:
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel, DebertaV2Config, DebertaV2Model, \
        XLMRobertaConfig, XLMRobertaModel

    folder.mkdir(parents=True, exist_ok=True)
    (build_wordpiece if kind == "bert" else build_unigram)(lines, folder)
    tok = AutoTokenizer.from_pretrained(folder)
    common = dict(vocab_size=len(tok), hidden_size=64, num_hidden_layers=3, num_attention_heads=4,
                  intermediate_size=128, pad_token_id=tok.pad_token_id,
                  initializer_range=0.2)  # peaked attention: relations worth distilling
    torch.manual_seed(0)
    if kind == "bert":
        model = BertModel(BertConfig(max_position_embeddings=512, **common), add_pooling_layer=False)
    elif kind == "xlmr":
        model = XLMRobertaModel(XLMRobertaConfig(max_position_embeddings=514, bos_token_id=0, eos_token_id=2,
                                                 **common), add_pooling_layer=False)
    else:
        model = DebertaV2Model(DebertaV2Config(max_position_embeddings=512, relative_attention=True,
                                               position_biased_input=False, pos_att_type=["p2c", "c2p"],
                                               share_att_key=True, max_relative_positions=-1, position_buckets=32,
                                               norm_rel_ebd="layer_norm", **common))
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def teachers(tmp_path_factory, texts) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("teachers")
    return {kind: build_teacher(kind, root / kind, texts["mixed"]) for kind in ("bert", "xlmr", "deberta")}
