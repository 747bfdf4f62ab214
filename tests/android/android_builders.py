"""Builders for the Android tests: tiny tokenizers (`tokenizers` library), a tiny BERT spec and its torch runner."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

DATA = Path(__file__).parent / "data"

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Angela Merkel met Emmanuel Macron in Paris on Monday.",
    "Příliš žluťoučký kůň úpěl ďábelské ódy.",
    "Das Auto fährt schnell über die Straße nach München.",
    "Le café est très bon, n'est-ce pas? Déjà vu à Noël.",
    "Numbers like 3.14 and 42 appear in text 2024.",
    "Hello world, hello again; the world says hello.",
    "Machine learning models run on phones and small boards.",
    "Tokenizers split words into pieces: sub-word units help.",
    "東京 北京 서울 are cities; 日本語 text appears too.",
] * 3


def _train_corpus() -> list[str]:
    lines = []
    for i, line in enumerate(CORPUS):
        lines.append(line if i % 2 else line.lower())
    return lines


def wordpiece_tokenizer(lowercase: bool, vocab_size: int = 220) -> Tokenizer:
    """BERT-style: BertNormalizer + BertPreTokenizer + WordPiece + [CLS] $A [SEP]."""
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None,
                                                lowercase=lowercase)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    tok.train_from_iterator(_train_corpus(), trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))])
    tok.decoder = decoders.WordPiece()
    return tok


def unigram_tokenizer(normalizer, prepend_scheme: str = "always", vocab_size: int = 260) -> Tokenizer:
    """XLM-R-style: <s>=0 <pad>=1 </s>=2 <unk>=3, Metaspace, Unigram pieces trained on the corpus."""
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme=prepend_scheme)
    trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
                                      unk_token="<unk>", shrinking_factor=0.75, n_sub_iterations=2)
    tok.train_from_iterator(_train_corpus(), trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", tok.token_to_id("<s>")), ("</s>", tok.token_to_id("</s>"))])
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme=prepend_scheme)
    return tok


def xlmr_normalizer():
    """XLM-R's own normalizer: SentencePiece's nmt_nfkc precompiled charsmap, then collapse spaces."""
    charsmap = base64.b64decode((DATA / "xlmr_precompiled_charsmap.b64").read_text().strip())
    return normalizers.Sequence([normalizers.Precompiled(charsmap), normalizers.Replace(Regex(" {2,}"), " ")])


def build_tiny_bert(out: Path) -> Path:
    """A 2-layer BERT with random weights and a trained WordPiece tokenizer, as an HF folder."""
    import torch
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    tok = wordpiece_tokenizer(lowercase=True)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]")
    fast.save_pretrained(out)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tok.get_vocab_size(), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    BertModel(config).eval().save_pretrained(out, safe_serialization=True)
    return out


def tiny_spec(model_dir: Path, work_dir: Path):
    """The lead's ExportSpec of a plain encoder (no exporter involved)."""
    from edge_time.modeling.spec import encoder_spec

    work_dir.mkdir(parents=True, exist_ok=True)
    return encoder_spec(model_dir, work_dir, max_length=64)


def torch_runner(spec):
    """``run`` for write_android_assets: the spec's torch module on named int64 arrays."""
    import torch

    def run(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        with torch.no_grad():
            outputs = spec.module(*[torch.from_numpy(arrays[name]) for name in spec.input_names])
        return {name: out.numpy() for name, out in zip(spec.output_names, outputs)}

    return run


def read_json(path: Path):
    return json.loads(Path(path).read_text(encoding="utf-8"))
