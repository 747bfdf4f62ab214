"""An export-friendly form of BERT-family encoders, sharing the Hugging Face model's weights.

Why: transformers' own forward builds masks with data-dependent ops (``arange`` + compare +
``where``, GATHER_ND after conversion) that fall outside the XNNPACK delegate and that the old
standalone ``tflite-runtime`` cannot run. This module computes the same function with plain
ops: a precomputed additive mask, fixed position offsets, and matmul attention. Outputs equal
the HF model's on every real (non-padding) token of right-padded input; parity checks prove it
for each export.

:func:`xnnpack_form` rewrites it once more for ExecuTorch's XNNPACK delegate, whose partitioner
(executorch 1.5) rejects three things the plain form needs under dynamic batch and sequence:
reshapes with more than one symbolic dim (the head split), ``mean.dim`` on anything but 4-D
inputs (LayerNorm), and 4-D matmuls (lowered to ``expand`` + reshape + ``bmm``). There, each
head gets its own linear and 3-D ``bmm``, and LayerNorm means become one-column linears, so
the whole encoder after the embedding lookup runs as a single delegate call
(docs/export_performance.md).
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from edge_time.bundle import position_offset

SUPPORTED_MODEL_TYPES = ("bert", "roberta", "xlm-roberta", "electra", "camembert")
MASK_VALUE = -1.0e4  # exp() underflows to 0 in fp32 and fp16; finite, so quantizers stay sane


def _base_model(model: nn.Module) -> nn.Module:
    """The bare encoder inside a task model (BertForX.bert, RobertaForX.roberta, ...)."""
    if hasattr(model, "embeddings") and hasattr(model, "encoder"):
        return model
    prefix = getattr(model, "base_model_prefix", None)
    inner = getattr(model, prefix, None) if prefix else None
    if inner is not None and hasattr(inner, "embeddings"):
        return inner
    raise ValueError(f"{type(model).__name__} has no BERT-style embeddings/encoder; "
                     f"export-friendly form supports model types {SUPPORTED_MODEL_TYPES}")


def supports(model: nn.Module) -> bool:
    return getattr(getattr(model, "config", None), "model_type", None) in SUPPORTED_MODEL_TYPES


class LayerNorm(nn.Module):
    """LayerNorm written as mean/var arithmetic: lowers to delegate-friendly elementwise ops."""

    def __init__(self, norm: nn.LayerNorm):
        super().__init__()
        self.weight, self.bias, self.eps = norm.weight, norm.bias, norm.eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=-1, keepdim=True)
        centered = x - mean
        var = (centered * centered).mean(dim=-1, keepdim=True)
        return centered * torch.rsqrt(var + self.eps) * self.weight + self.bias


class RowMean(nn.Module):
    """Mean over the last axis as a one-column linear (fp32, kept out of int8 quantization).

    XNNPACK takes ``mean.dim`` only for 4-D inputs averaged over axes 2-3, and the rank change
    back to 3-D would be a reshape with two symbolic dims, which it rejects too.
    """

    def __init__(self, width: int):
        super().__init__()
        self.register_buffer("weight", torch.full((1, width), 1.0 / width), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight)


class RowMeanLayerNorm(nn.Module):
    """LayerNorm whose two means are :class:`RowMean` linears: all of it lowers to XNNPACK."""

    def __init__(self, norm: nn.Module):
        super().__init__()
        self.weight, self.bias, self.eps = norm.weight, norm.bias, norm.eps
        self.mean = RowMean(norm.weight.shape[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        centered = x - self.mean(x)
        return centered * torch.rsqrt(self.mean(centered * centered) + self.eps) * self.weight + self.bias


def _head_linears(linear: nn.Linear, num_heads: int, head_dim: int, scale: float = 1.0) -> nn.ModuleList:
    """One (in -> head_dim) linear per head, cut from a (in -> heads * head_dim) linear."""
    heads = nn.ModuleList()
    for h in range(num_heads):
        rows = slice(h * head_dim, (h + 1) * head_dim)
        head = nn.Linear(linear.in_features, head_dim, bias=linear.bias is not None)
        with torch.no_grad():
            head.weight.copy_(linear.weight[rows] * scale)
            if linear.bias is not None:
                head.bias.copy_(linear.bias[rows] * scale)
        heads.append(head)
    return heads


def _activation(name: str, x: torch.Tensor) -> torch.Tensor:
    if name == "relu":
        return F.relu(x)
    if name == "gelu":
        return F.gelu(x)
    return F.gelu(x, approximate="tanh")


class EdgeLayer(nn.Module):
    def __init__(self, layer: nn.Module, num_heads: int, act: str, decompose_norm: bool):
        super().__init__()
        attn = layer.attention.self
        self.query, self.key, self.value = attn.query, attn.key, attn.value
        self.attn_out = layer.attention.output.dense
        self.ffn_in = layer.intermediate.dense
        self.ffn_out = layer.output.dense
        norm = LayerNorm if decompose_norm else (lambda n: n)
        self.norm1 = norm(layer.attention.output.LayerNorm)
        self.norm2 = norm(layer.output.LayerNorm)
        self.num_heads = num_heads
        self.head_dim = self.query.out_features // num_heads
        self.scale = 1.0 / math.sqrt(self.head_dim)
        if act not in ("gelu", "gelu_new", "gelu_pytorch_tanh", "relu"):
            raise ValueError(f"activation {act!r} is not supported by the export-friendly encoder")
        self.act = act

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, s, _ = x.shape
        return x.view(b, s, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(self, hidden: torch.Tensor, additive_mask: torch.Tensor) -> torch.Tensor:
        b, s, d = hidden.shape
        q = self._heads(self.query(hidden) * self.scale)
        k = self._heads(self.key(hidden))
        v = self._heads(self.value(hidden))
        probs = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) + additive_mask, dim=-1)
        context = torch.matmul(probs, v).transpose(1, 2).reshape(b, s, d)
        hidden = self.norm1(self.attn_out(context) + hidden)
        return self.norm2(self.ffn_out(_activation(self.act, self.ffn_in(hidden))) + hidden)


class SplitHeadLayer(nn.Module):
    """An :class:`EdgeLayer` with one linear per head and 3-D ``bmm`` attention: no reshapes.

    Takes the additive mask as (batch, 1, seq). The 1/sqrt(head_dim) scale is folded into the
    query weights.
    """

    def __init__(self, layer: EdgeLayer):
        super().__init__()
        n, width = layer.num_heads, layer.head_dim
        self.query = _head_linears(layer.query, n, width, layer.scale)
        self.key = _head_linears(layer.key, n, width)
        self.value = _head_linears(layer.value, n, width)
        self.attn_out, self.ffn_in, self.ffn_out = layer.attn_out, layer.ffn_in, layer.ffn_out
        self.norm1, self.norm2 = RowMeanLayerNorm(layer.norm1), RowMeanLayerNorm(layer.norm2)
        self.act = layer.act

    def forward(self, hidden: torch.Tensor, additive_mask: torch.Tensor) -> torch.Tensor:
        heads = []
        for query, key, value in zip(self.query, self.key, self.value):
            scores = torch.bmm(query(hidden), key(hidden).transpose(1, 2)) + additive_mask
            heads.append(torch.bmm(torch.softmax(scores, dim=-1), value(hidden)))
        hidden = self.norm1(self.attn_out(torch.cat(heads, dim=-1)) + hidden)
        return self.norm2(self.ffn_out(_activation(self.act, self.ffn_in(hidden))) + hidden)


class BatchOneLayer(nn.Module):
    """An :class:`EdgeLayer` for graphs whose batch is fixed at 1: full-width Q/K/V linears, heads
    split by a view with a single symbolic dim (seq), which XNNPACK accepts, then 3-D ``bmm``.

    About 20x fewer delegate ops than :class:`SplitHeadLayer` (docs/export_performance.md). Takes
    the additive mask as (1, 1, seq); the 1/sqrt(head_dim) scale is folded into the query.
    """

    def __init__(self, layer: EdgeLayer):
        super().__init__()
        self.num_heads, self.head_dim = layer.num_heads, layer.head_dim
        self.query = _head_linears(layer.query, 1, layer.query.out_features, layer.scale)[0]
        self.key, self.value = layer.key, layer.value
        self.attn_out, self.ffn_in, self.ffn_out = layer.attn_out, layer.ffn_in, layer.ffn_out
        self.norm1, self.norm2 = RowMeanLayerNorm(layer.norm1), RowMeanLayerNorm(layer.norm2)
        self.act = layer.act

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(-1, self.num_heads, self.head_dim).transpose(0, 1)  # (heads, seq, head_dim)

    def forward(self, hidden: torch.Tensor, additive_mask: torch.Tensor) -> torch.Tensor:
        width = hidden.shape[-1]
        q, k, v = self._heads(self.query(hidden)), self._heads(self.key(hidden)), self._heads(self.value(hidden))
        probs = torch.softmax(torch.bmm(q, k.transpose(1, 2)) + additive_mask, dim=-1)
        # merge heads as (seq, hidden) with a literal -1: XNNPACK refuses reshapes whose target
        # shape holds a symbolic size, which `reshape` of the transposed tensor would produce
        context = torch.bmm(probs, v).transpose(0, 1).contiguous().view(-1, width)
        hidden = self.norm1(self.attn_out(context) + hidden)  # broadcasts back to (1, seq, hidden)
        return self.norm2(self.ffn_out(_activation(self.act, self.ffn_in(hidden))) + hidden)


class EdgeEncoder(nn.Module):
    """``forward(input_ids, attention_mask[, position_ids]) -> hidden states``.

    ``all_layers``: return a (layers + 1, batch, seq, hidden) stack (embeddings first), which
    task heads with a learned layer mix need; otherwise the last hidden state.
    ``explicit_positions``: take ``position_ids`` as an input instead of computing them, the form
    the old standalone tflite-runtime can run.
    """

    def __init__(self, hf_model: nn.Module, all_layers: bool = False,
                 explicit_positions: bool = False, decompose_norm: bool = True):
        super().__init__()
        base = _base_model(hf_model)
        cfg = base.config
        if cfg.model_type not in SUPPORTED_MODEL_TYPES:
            raise ValueError(f"model type {cfg.model_type!r}: export-friendly form supports {SUPPORTED_MODEL_TYPES}")
        emb = base.embeddings
        self.word_embeddings = emb.word_embeddings
        self.position_embeddings = emb.position_embeddings
        token_type = getattr(emb, "token_type_embeddings", None)
        type_row = token_type.weight[0].detach().clone() if token_type is not None else torch.zeros(cfg.hidden_size)
        self.register_buffer("token_type_row", type_row, persistent=False)
        self.embed_norm = LayerNorm(emb.LayerNorm) if decompose_norm else emb.LayerNorm
        self.embeddings_project = getattr(base, "embeddings_project", None)  # ELECTRA small
        self.position_offset = position_offset(cfg.model_type, cfg.pad_token_id)
        self.layers = nn.ModuleList(
            EdgeLayer(layer, cfg.num_attention_heads, cfg.hidden_act, decompose_norm) for layer in base.encoder.layer
        )
        self.all_layers = all_layers
        self.explicit_positions = explicit_positions
        self.hidden_size = cfg.hidden_size
        self.split_heads = False  # set by xnnpack_form: layers take a (batch, 1, seq) mask

    def additive_mask(self, attention_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        # Rank first, arithmetic second: the (non-trailing) unsqueeze stays outside XNNPACK, and
        # an op outside between two delegated ones would split the delegate in two.
        mask = attention_mask[:, None, :] if self.split_heads else attention_mask[:, None, None, :]
        return (1.0 - mask.to(dtype)) * MASK_VALUE

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                position_ids: torch.Tensor | None = None) -> torch.Tensor:
        seq = input_ids.shape[1]
        if position_ids is None:
            position_ids = torch.arange(seq, device=input_ids.device).unsqueeze(0) + self.position_offset
        hidden = self.word_embeddings(input_ids) + self.position_embeddings(position_ids) + self.token_type_row
        hidden = self.embed_norm(hidden)
        if self.embeddings_project is not None:
            hidden = self.embeddings_project(hidden)
        mask = self.additive_mask(attention_mask, hidden.dtype)
        states = [hidden]
        for layer in self.layers:
            hidden = layer(hidden, mask)
            states.append(hidden)
        return torch.stack(states) if self.all_layers else hidden


def xnnpack_form(module: nn.Module, batch_one: bool = False) -> nn.Module:
    """A copy of ``module`` whose :class:`EdgeEncoder` s lower to (nearly) one XNNPACK delegate.

    Same function, different ops (see the module docstring); only embedding lookups, position
    ids and the mask stay outside. ``batch_one``: the graph will be exported with batch fixed at
    1 (:class:`BatchOneLayer`). Modules without an EdgeEncoder come back as a plain copy.
    """
    module = copy.deepcopy(module)
    layer_form = BatchOneLayer if batch_one else SplitHeadLayer
    for encoder in [m for m in module.modules() if isinstance(m, EdgeEncoder) and not m.split_heads]:
        encoder.embed_norm = RowMeanLayerNorm(encoder.embed_norm)
        encoder.layers = nn.ModuleList(layer_form(layer) for layer in encoder.layers)
        encoder.split_heads = True
    return module


def onnx_form(module: nn.Module) -> nn.Module:
    """A copy of ``module`` whose decomposed :class:`LayerNorm` s are native ones: one
    LayerNormalization op each in an ONNX graph instead of ten elementwise passes.

    The decomposition exists for XNNPACK and the old tflite-runtime; onnxruntime has a LayerNorm
    kernel (xs UD graph: 10% faster, docs/benchmarks.md). Same function up to float rounding.
    """
    module = copy.deepcopy(module)
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, LayerNorm):
                native = nn.LayerNorm(child.weight.shape[0], eps=child.eps)
                native.weight, native.bias = child.weight, child.bias
                setattr(parent, name, native)
    return module

