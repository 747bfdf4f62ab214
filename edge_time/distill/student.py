"""Student size presets (plain dataclasses) and the BERT student built from them.

The student is a ``BertModel`` with learned absolute positions numbered from 0, saved as
``model_type: bert`` so every runtime treats positions the BERT way whatever tokenizer it uses
(an XLM-R vocabulary included). Its ``pad_token_id`` is the tokenizer's pad id (1 for XLM-R,
0 for BERT), never a hard-coded 0.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from edge_time.errors import EdgeTimeError


class StudentSizeError(EdgeTimeError):
    """A student shape that cannot be built; the message names the fix."""


@dataclass(frozen=True)
class StudentSize:
    hidden: int
    layers: int
    heads: int
    ffn: int  # intermediate size; 4 x hidden in every preset, as in TiME

    def validate(self) -> "StudentSize":
        if min(self.hidden, self.layers, self.heads, self.ffn) < 1:
            raise StudentSizeError(f"student size {self} has a non-positive dimension")
        if self.hidden % self.heads:
            raise StudentSizeError(f"student hidden size {self.hidden} is not divisible by {self.heads} heads; "
                                   f"choose --heads that divides --hidden")
        return self

    def to_dict(self) -> dict:
        return asdict(self)


# m: TiME's default student. s: the MiniLM-L6-H384 shape (all-MiniLM-L6-v2), head dim 32.
# xs: 4 layers of width 256 with 4 heads of dim 64 (a shape mobile GEMM kernels handle well),
# about 1/6 of m's encoder compute per token.
PRESETS: dict[str, StudentSize] = {
    "m": StudentSize(hidden=768, layers=6, heads=12, ffn=3072),
    "s": StudentSize(hidden=384, layers=6, heads=12, ffn=1536),
    "xs": StudentSize(hidden=256, layers=4, heads=4, ffn=1024),
}


def resolve_size(name: str | None, hidden: int | None = None, layers: int | None = None,
                 heads: int | None = None, ffn: int | None = None) -> StudentSize:
    """A preset, with any of its dimensions overridden (``name=None`` needs all of them)."""
    if name is not None and name not in PRESETS:
        raise StudentSizeError(f"unknown student size {name!r}; use one of {', '.join(PRESETS)} or give "
                               f"--hidden/--layers/--heads")
    base = PRESETS.get(name) if name else None
    if base is None and None in (hidden, layers, heads):
        raise StudentSizeError("a custom student needs --hidden, --layers and --heads (or pick --size xs/s/m)")
    hidden = hidden or base.hidden
    return StudentSize(
        hidden=hidden,
        layers=layers or base.layers,
        heads=heads or base.heads,
        ffn=ffn or (base.ffn if base and hidden == base.hidden else 4 * hidden),
    ).validate()


def build_student(size: StudentSize, vocab_size: int, pad_token_id: int, max_positions: int, seed: int,
                  dropout: float = 0.1, layer_norm_eps: float = 1e-12, hidden_act: str = "gelu"):
    """A randomly initialised BertModel, reproducible from ``seed``.

    It keeps BERT's pooler (untrained, like the last block's FFN) so ``AutoModel`` loads the
    folder without "newly initialized" warnings. A teacher-initialised student passes the
    teacher's LayerNorm epsilon and activation, so its copied blocks compute what the teacher's do.
    """
    import torch
    from transformers import BertConfig, BertModel

    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=size.hidden,
        num_hidden_layers=size.layers,
        num_attention_heads=size.heads,
        intermediate_size=size.ffn,
        max_position_embeddings=max_positions,
        type_vocab_size=2,
        pad_token_id=pad_token_id,
        hidden_act=hidden_act,
        layer_norm_eps=layer_norm_eps,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
    )
    torch.manual_seed(seed)
    return BertModel(config)


def freeze_unused_top(student, top_block: bool = True) -> list[str]:
    """Freeze the last block's parts after Q/K/V and the pooler: the loss never reaches them (as in MiniLMv2).

    ``top_block=False`` freezes only the pooler (a hidden-state loss reaches the whole top block).

    They keep their initial values (fine-tuning trains them). Frozen, they are left out of the
    optimizer and of DDP's gradient reduction, so multi-process runs need no
    ``find_unused_parameters``.
    """
    top = student.encoder.layer[-1]
    frozen = []
    parts = (("attention.output", top.attention.output), ("intermediate", top.intermediate), ("output", top.output))
    for prefix, module in parts if top_block else ():
        for name, param in module.named_parameters():
            param.requires_grad_(False)
            frozen.append(f"encoder.layer.{len(student.encoder.layer) - 1}.{prefix}.{name}")
    for name, param in student.pooler.named_parameters():
        param.requires_grad_(False)
        frozen.append(f"pooler.{name}")
    return frozen
