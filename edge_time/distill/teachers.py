"""Where each encoder architecture keeps its attention Q/K/V projections, and how to capture them.

One small adapter per family says where the transformer blocks are and which Linear modules
produce Q, K and V inside a block. ``ProjectionCapture`` puts forward hooks on those Linear
modules and keeps their outputs (the projections *with* their biases, as MiniLMv2 defines them).

DeBERTa-v2/v3 is a relative-position model: its blocks call ``query_proj``/``key_proj`` a second
time on the relative-position embeddings (``share_att_key``). The capture keeps the *first* call
of each forward, which is the content projection of the hidden states, so the student (absolute
positions) learns the teacher's content relations.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from edge_time.errors import EdgeTimeError
from edge_time.modeling.spec import check_model_folder


class TeacherError(EdgeTimeError):
    """The teacher cannot be used for relation distillation; the message names the fix."""


@dataclass(frozen=True)
class Adapter:
    """Paths (dotted, from the base model) to the block list and, inside a block, to Q/K/V."""

    layers: str
    query: str
    key: str
    value: str


BERT_STYLE = Adapter("encoder.layer", "attention.self.query", "attention.self.key", "attention.self.value")
DEBERTA = Adapter("encoder.layer", "attention.self.query_proj", "attention.self.key_proj",
                  "attention.self.value_proj")
ADAPTERS: dict[str, Adapter] = {
    "bert": BERT_STYLE,  # also E5 / MiniLM / LaBSE-style BERT encoders
    "roberta": BERT_STYLE,
    "xlm-roberta": BERT_STYLE,
    "camembert": BERT_STYLE,
    "electra": BERT_STYLE,
    "deberta-v2": DEBERTA,  # DeBERTa-v2 and v3 (mDeBERTa-v3 included)
}
SUPPORTED = ", ".join(sorted(ADAPTERS))


def _get(module: nn.Module, dotted: str) -> nn.Module:
    for part in dotted.split("."):
        module = getattr(module, part)
    return module


def base_model(model: nn.Module) -> nn.Module:
    """The bare encoder (``BertModel``) inside a model with a head (``BertForMaskedLM``)."""
    prefix = getattr(model, "base_model_prefix", "")
    inner = getattr(model, prefix, None) if prefix else None
    return inner if isinstance(inner, nn.Module) and hasattr(inner, "encoder") else model


def adapter_for(model: nn.Module) -> Adapter:
    model_type = getattr(model.config, "model_type", None)
    if model_type not in ADAPTERS:
        raise TeacherError(f"teacher model type {model_type!r} is not supported for attention relation "
                           f"distillation; use one of: {SUPPORTED}")
    return ADAPTERS[model_type]


def attention_layers(model: nn.Module) -> nn.ModuleList:
    return _get(base_model(model), adapter_for(model).layers)


def qkv_modules(model: nn.Module, layer: int) -> dict[str, nn.Linear]:
    """{'q','k','v'} -> the Linear projections of block ``layer`` (1-based, as papers count)."""
    adapter = adapter_for(model)
    layers = attention_layers(model)
    if not 1 <= layer <= len(layers):
        raise TeacherError(f"teacher layer {layer} is out of range; the teacher has layers 1..{len(layers)} "
                           f"(pass --teacher-layer between them)")
    block = layers[layer - 1]
    try:
        found = {"q": _get(block, adapter.query), "k": _get(block, adapter.key), "v": _get(block, adapter.value)}
    except AttributeError as exc:
        raise TeacherError(f"{type(model).__name__} has no attention projections at {adapter.query} "
                           f"({exc}); use a standard {SUPPORTED} encoder") from exc
    for name, module in found.items():
        if not isinstance(module, nn.Linear):
            raise TeacherError(f"{type(model).__name__}: {name} projection is a {type(module).__name__}, not "
                               f"a Linear layer; use a standard {SUPPORTED} encoder")
    return found


class ProjectionCapture:
    """Forward hooks that keep the first output of each Q/K/V Linear since the last ``reset``."""

    def __init__(self, modules: dict[str, nn.Linear]):
        self.outputs: dict[str, torch.Tensor] = {}
        self._handles = [module.register_forward_hook(self._hook(name)) for name, module in modules.items()]

    def _hook(self, name: str):
        def keep_first(module, inputs, output):
            self.outputs.setdefault(name, output)

        return keep_first

    def reset(self) -> None:
        self.outputs = {}

    def take(self) -> dict[str, torch.Tensor]:
        if set(self.outputs) != {"q", "k", "v"}:
            raise RuntimeError(f"captured only {sorted(self.outputs)}; the forward did not run the hooked block")
        out, self.outputs = self.outputs, {}
        return out

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()


def load_teacher(path: Path, layer: int | None, dtype: torch.dtype = torch.float32,
                 trust_remote_code: bool = False) -> tuple[nn.Module, int]:
    """Frozen teacher cut after the distilled ``layer`` (default: min(12, layers)); returns (model, layer).

    Blocks above the layer never influence the loss, so they are dropped (half the teacher
    compute for the paper's layer 12 of 24).
    """
    from transformers import AutoConfig, AutoModel

    check_model_folder(path, trust_remote_code)
    config = AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code)
    if config.model_type not in ADAPTERS:
        raise TeacherError(f"teacher model type {config.model_type!r} is not supported for attention relation "
                           f"distillation; use one of: {SUPPORTED}")
    total = int(getattr(config, "num_hidden_layers", 0))
    layer = min(12, total) if layer is None else layer
    if not 1 <= layer <= total:
        raise TeacherError(f"teacher layer {layer} is out of range; the teacher has layers 1..{total} "
                           f"(pass --teacher-layer between them)")
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # a teacher saved without its pooler is normal: no "MISSING" report
    try:
        model = AutoModel.from_pretrained(path, dtype=dtype, use_safetensors=True,
                                          trust_remote_code=trust_remote_code)
    finally:
        hf_logging.set_verbosity(verbosity)
    layers = attention_layers(model)
    del layers[layer:]
    model.config.num_hidden_layers = layer
    qkv_modules(model, layer)  # fail early if the block has no usable projections
    model.eval().requires_grad_(False)
    return model, layer
