"""Tiny random encoders built from configs, with real tokenizers trained on generated text.

Shared by the test rooms; no downloads.
"""

from __future__ import annotations

from pathlib import Path

WORDS = ("the quick brown fox jumps over lazy dog a man is playing guitar choose format cells open "
         "numbers tab praha je hlavní město české republiky die katze schläft auf dem warmen sofa le "
         "modèle tourne sur téléphone edge devices need small fast encoders").split()


def corpus(n: int = 200) -> list[str]:
    import random

    rng = random.Random(0)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 14))) for _ in range(n)]


def build_bert(out: Path, hidden: int = 64, layers: int = 2) -> Path:
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(corpus(), trainers.WordPieceTrainer(vocab_size=300, special_tokens=specials))
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                            sep_token="[SEP]", mask_token="[MASK]").save_pretrained(out)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tok.get_vocab_size(), hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=4, intermediate_size=hidden * 2, max_position_embeddings=128)
    BertModel(config, add_pooling_layer=False).save_pretrained(out)
    return out


def build_xlmr(out: Path, hidden: int = 64, layers: int = 2) -> Path:
    """XLM-R-style: SentencePiece Unigram, <s>=0 <pad>=1 </s>=2 <unk>=3, positions from pad+1."""
    import torch
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast, XLMRobertaConfig, XLMRobertaModel

    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    specials = ["<s>", "<pad>", "</s>", "<unk>"]
    tok.train_from_iterator(corpus(), trainers.UnigramTrainer(vocab_size=250, special_tokens=specials,
                                                               unk_token="<unk>"))
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
    PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                            pad_token="<pad>", cls_token="<s>", sep_token="</s>").save_pretrained(out)
    torch.manual_seed(0)
    config = XLMRobertaConfig(vocab_size=tok.get_vocab_size(), hidden_size=hidden, num_hidden_layers=layers,
                              num_attention_heads=4, intermediate_size=hidden * 2, max_position_embeddings=130,
                              pad_token_id=1, bos_token_id=0, eos_token_id=2)
    XLMRobertaModel(config, add_pooling_layer=False).save_pretrained(out)
    return out


def float_matmuls_fed_by_gelu(model: Path) -> int:
    """How many fp32 MatMuls of an ONNX graph take a GELU's output (FFN-output projections left unquantized)."""
    import onnx

    graph = onnx.load(str(model)).graph
    producer = {output: node.op_type for node in graph.node for output in node.output}
    return sum(node.op_type == "MatMul" and producer.get(node.input[0]) in ("Gelu", "FastGelu", "BiasGelu")
               for node in graph.node)
