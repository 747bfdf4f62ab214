"""Fixtures for the profiler tests: one tiny real ONNX bundle per session, built from a random
BertModel and a WordPiece vocabulary trained here (no downloads)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

SENTENCES = [
    "the cat sat on the mat", "a man is playing a guitar", "profiling tiny encoders on phones",
    "energy per inference above idle", "the quick brown fox jumps over the lazy dog",
]


def build_tiny_model(folder: Path) -> Path:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=120, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    tokenizer.train_from_iterator(SENTENCES * 4, trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", tokenizer.token_to_id("[CLS]")), ("[SEP]", tokenizer.token_to_id("[SEP]"))])
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    config = BertConfig(vocab_size=tokenizer.get_vocab_size(), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=128)
    import torch

    torch.manual_seed(0)
    BertModel(config).eval().save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


def build_tiny_bundle(root: Path, target: str = "onnx", quantize: str = "none") -> Path:
    from edge_time.exporters import export_model

    model_dir = root / "tiny-bert"
    if not (model_dir / "config.json").is_file():
        build_tiny_model(model_dir)
    bundle = root / (f"tiny-{target}" if quantize == "none" else f"tiny-{target}-{quantize}")
    export_model(model=model_dir, target=target, out=bundle, quantize=quantize, max_length=128,
                 seq_buckets=(16, 32, 128))
    return bundle


@pytest.fixture(scope="session")
def bundle_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("bundles")


@pytest.fixture(scope="session")
def tiny_bundle(bundle_root) -> Path:
    """A real ONNX bundle of a 2-layer, 32-wide random BERT (built once per session)."""
    return build_tiny_bundle(bundle_root)


@pytest.fixture(scope="session")
def target_bundles(bundle_root, tiny_bundle) -> dict[str, Path]:
    """The same tiny BERT as an ONNX, a TFLite (buckets 16/32/128) and an ExecuTorch bundle."""
    bundles = {"onnx": tiny_bundle}
    for target in ("tflite", "executorch"):
        bundles[target] = build_tiny_bundle(bundle_root, target)
    return bundles


@pytest.fixture()
def odd_bundle(tiny_bundle, tmp_path) -> Path:
    """The tiny bundle copied to a folder whose name holds a space, quotes and `;`."""
    odd = tmp_path / "my model's \"v1\"; touch INJECTED"
    shutil.copytree(tiny_bundle, odd)
    return odd
