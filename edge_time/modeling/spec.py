"""ExportSpec: what an exporter needs to know about a model, whatever produced it.

A plain encoder folder (:func:`encoder_spec`, here) and a fine-tuned task model
(``edge_time.tasks.export``) both become an ExportSpec; ``edge_time.exporters`` picks which, so
modeling imports neither tasks nor exporters. An ExportSpec holds a torch module whose forward
takes the named inputs in order and returns a tuple of the named outputs, the axis bounds, the
tokenizer, labels and task config for the bundle, and ``make_inputs`` that turns texts into
those inputs (for parity and int8 calibration).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from edge_time.bundle import ROBERTA_POSITIONS, TensorSpec, TokenizerInfo
from edge_time.errors import EdgeTimeError
from edge_time.modeling.encoder import EdgeEncoder, supports
from edge_time.runtime.tokenize import Encoded, TextEncoder, describe_tokenizer

TASK_CONFIG_NAME = "edge_time_task.json"
DISTILL_CONFIG_NAME = "distill_config.json"  # a distillation run's record; its `selection` says what a student kept
DEFAULT_AXES = {"batch": [1, 64], "seq": [2, 512]}


class ModelLoadError(EdgeTimeError):
    """The model folder or id cannot be loaded; the message names the fix."""


def distill_record(model_dir: str | Path) -> dict | None:
    """A student's ``distill_config.json`` (written by ``edge-time distill``), or None when the folder has no
    readable one: a model that is no student, or a record damaged by hand."""
    path = Path(model_dir) / DISTILL_CONFIG_NAME
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return record if isinstance(record, dict) else None


@dataclass
class ExportSpec:
    module: nn.Module
    task: str
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    axes: dict[str, list[int]]
    tokenizer_dir: Path  # holds tokenizer.json (and friends) to copy into the bundle
    tokenizer_info: TokenizerInfo
    max_length: int
    source: dict[str, Any]
    # texts -> the named inputs (torch int64); seq_len pads to a fixed bucket
    make_inputs: Callable[[list[str], int | None], dict[str, torch.Tensor]] = None
    labels: dict[str, list[str]] = field(default_factory=dict)
    task_config: dict[str, Any] = field(default_factory=dict)
    # output name -> name of the (batch, seq) input mask that marks its real positions, for parity
    output_masks: dict[str, str] = field(default_factory=dict)
    # output names whose last axis holds class scores (parity compares argmax labels)
    label_outputs: list[str] = field(default_factory=list)

    @property
    def input_names(self) -> list[str]:
        return [s.name for s in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [s.name for s in self.outputs]

    def example(self, texts: list[str], seq_len: int | None = None) -> tuple[torch.Tensor, ...]:
        inputs = self.make_inputs(texts, seq_len)
        return tuple(inputs[name] for name in self.input_names)

    def text_encoder(self) -> TextEncoder:
        return TextEncoder(self.tokenizer_dir / self.tokenizer_info.file, self.tokenizer_info, self.max_length)


class EncoderOutput(nn.Module):
    """Wrap an encoder so forward(input_ids, attention_mask[, position_ids]) -> (last_hidden_state,)."""

    def __init__(self, encoder: nn.Module, edge_form: bool):
        super().__init__()
        self.encoder = encoder
        self.edge_form = edge_form

    def forward(self, input_ids, attention_mask, position_ids=None):
        if self.edge_form:
            return (self.encoder(input_ids, attention_mask, position_ids),)
        return (self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state,)


def resolve_model_dir(model: str | Path, trust_remote_code: bool = False) -> Path:
    """A local folder as is; a hub id through the local Hugging Face cache (downloads if online)."""
    path = Path(model)
    if path.exists():
        if not path.is_dir():
            raise ModelLoadError(f"--model {model} is a file; pass a Hugging Face model folder")
        if not (path / "config.json").is_file():
            raise ModelLoadError(f"{model} has no config.json; pass a Hugging Face model folder or hub id")
        check_model_folder(path, trust_remote_code)
        return path
    if str(model).startswith((".", "/", "~")) or str(model).count("/") > 1:
        raise ModelLoadError(f"model folder {model} does not exist; check the path")
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(str(model), allow_patterns=["*.json", "*.safetensors", "*.txt", "*.model"]))
    except Exception as exc:  # offline, unknown id, gated model
        raise ModelLoadError(f"cannot fetch {model!r} from the Hugging Face hub ({type(exc).__name__}); "
                             f"pass a local model folder instead") from exc


def check_model_folder(model_dir: Path, trust_remote_code: bool = False) -> None:
    """Refuse, before any work, a folder edge-time would fail on or must not run: a config.json that is
    not a JSON object, custom modelling code not allowed by the user, weights that are only pickles."""
    config_path = model_dir / "config.json"
    try:
        config = json.loads(config_path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{config_path}: not valid JSON ({exc}); the folder's config.json is corrupt") from None
    if not isinstance(config, dict):
        raise ModelLoadError(f"{config_path}: a JSON object is expected, found {type(config).__name__}; "
                             f"the folder's config.json is corrupt")
    if config.get("auto_map") and not trust_remote_code:
        raise ModelLoadError(f"{model_dir}: config.json asks for the model's own Python code (auto_map); edge-time "
                             f"runs it only with --trust-remote-code: pass it if you trust that code")
    check_weights(model_dir)


def check_weights(model_dir: Path) -> None:
    """The weights must be safetensors that transformers will find (model.safetensors or its index)."""
    if (model_dir / "model.safetensors").is_file() or (model_dir / "model.safetensors.index.json").is_file():
        return
    pickles = sorted(p.name for p in model_dir.glob("*.bin")) + sorted(p.name for p in model_dir.glob("*.pt"))
    found = f" (found {', '.join(pickles)}: pickles, which edge-time never loads)" if pickles else ""
    raise ModelLoadError(f"{model_dir} has no model.safetensors{found}; convert the weights with "
                         f"save_pretrained(safe_serialization=True)")


def weights_sha256(model_dir: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(model_dir.glob("*.safetensors")):
        with open(path, "rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()


def load_tokenizer_files(model_dir: Path, out_dir: Path, trust_remote_code: bool = False) -> TokenizerInfo:
    """Save the model's fast tokenizer (tokenizer.json) into ``out_dir`` and describe it."""
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(model_dir, use_fast=True, trust_remote_code=trust_remote_code)
    except Exception as exc:
        raise ModelLoadError(f"{model_dir}: cannot load its tokenizer ({exc}); the bundle needs one") from exc
    if not getattr(tok, "is_fast", False):
        raise ModelLoadError(f"{model_dir}: only a slow tokenizer is available; edge-time needs tokenizer.json")
    out_dir.mkdir(parents=True, exist_ok=True)
    tok.backend_tokenizer.save(str(out_dir / "tokenizer.json"))
    config = json.loads((model_dir / "config.json").read_text())
    style = "roberta" if config.get("model_type") in ROBERTA_POSITIONS else "bert"
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    return describe_tokenizer(out_dir / "tokenizer.json", pad, tok.cls_token_id, tok.sep_token_id,
                              tok.unk_token_id, style)


def load_hf_encoder(model_dir: Path, trust_remote_code: bool = False) -> nn.Module:
    from transformers import AutoModel

    check_model_folder(model_dir, trust_remote_code)
    try:
        return AutoModel.from_pretrained(model_dir, use_safetensors=True, trust_remote_code=trust_remote_code,
                                         attn_implementation="eager").eval()
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{model_dir}: {str(exc).splitlines()[0]}") from exc


def encoder_make_inputs(text_encoder: TextEncoder, names: list[str]):
    def make_inputs(texts: list[str], seq_len: int | None = None) -> dict[str, torch.Tensor]:
        enc: Encoded = text_encoder.encode(texts, seq_len)
        arrays = enc.arrays()
        return {name: torch.from_numpy(arrays[name]) for name in names}

    return make_inputs


def encoder_spec(model_dir: Path, work_dir: Path, max_length: int = 512, explicit_positions: bool = False,
                 trust_remote_code: bool = False) -> ExportSpec:
    """ExportSpec of a plain encoder: (input_ids, attention_mask[, position_ids]) -> last_hidden_state."""
    hf = load_hf_encoder(model_dir, trust_remote_code)
    edge_form = supports(hf)
    if explicit_positions and not edge_form:
        raise ModelLoadError(f"--compat tflite-runtime needs a BERT-family encoder, not {hf.config.model_type}")
    encoder = EdgeEncoder(hf, explicit_positions=explicit_positions) if edge_form else hf
    info = load_tokenizer_files(model_dir, work_dir / "tokenizer", trust_remote_code)
    max_length = min(max_length, int(getattr(hf.config, "max_position_embeddings", max_length))
                     - info.position_offset)
    names = ["input_ids", "attention_mask"] + (["position_ids"] if explicit_positions else [])
    axes = {"batch": [1, 64], "seq": [2, max_length]}
    spec = ExportSpec(
        module=EncoderOutput(encoder, edge_form).eval(),
        task="encoder",
        inputs=[TensorSpec(n, "int64", ["batch", "seq"]) for n in names],
        outputs=[TensorSpec("last_hidden_state", "float32", ["batch", "seq", hf.config.hidden_size])],
        axes=axes,
        tokenizer_dir=work_dir / "tokenizer",
        tokenizer_info=info,
        max_length=max_length,
        source={"model": str(model_dir), "sha256": weights_sha256(model_dir),
                "architecture": type(hf).__name__, "model_type": hf.config.model_type,
                "export_form": "edge" if edge_form else "hf"},
        output_masks={"last_hidden_state": "attention_mask"},
    )
    spec.make_inputs = encoder_make_inputs(spec.text_encoder(), names)
    return spec

