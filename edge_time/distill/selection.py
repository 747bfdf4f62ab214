"""Teacher-initialised students: pick teacher layers, select a consistent subset of units, copy weights.

A randomly initialised student cannot learn much in the few hundred distillation steps a CPU
affords; a student cut out of its teacher starts close to it (the measured floor: e5-small with
every other layer dropped keeps 97% of the teacher's UPOS and 80% of its LAS after fine-tuning).

What is kept, all chosen once from the teacher's activations on a corpus sample:
- **depth**: evenly spaced teacher blocks ending at the top one (6 of 12 -> blocks 2, 4, ..., 12);
- **hidden units**: the same residual-stream units in every layer (the residual stream ties all
  layers together, so the subset must be consistent), ranked by mean |activation| summed over the
  embeddings and every block output;
- **attention heads** per block, ranked by the RMS norm of each head's contribution to the block's
  output (context through its slice of the output projection); the student keeps the teacher's
  head size, so ``hidden = heads x teacher head size``;
- **FFN neurons** per block, ranked by mean |activation| x the norm of the neuron's output weights;
- **embeddings**: the trimmed vocabulary's rows, the kept units; absolute positions copied (from
  the RoBERTa offset for RoBERTa-family teachers), token types copied.

With nothing removed (same width and depth) the student computes exactly the teacher's function
(tests pin this). Supported teachers: BERT-style encoders with absolute positions (bert, roberta,
xlm-roberta, camembert, electra with embedding size = hidden size); DeBERTa's relative attention
has no absolute positions to copy, so it gets ``--init random``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from edge_time.bundle import position_offset
from edge_time.distill.student import StudentSize
from edge_time.distill.teachers import attention_layers, base_model
from edge_time.errors import EdgeTimeError

TEACHER_INIT_TYPES = ("bert", "roberta", "xlm-roberta", "camembert", "electra")
CRITERION = "activation magnitude on the corpus sample (hidden: mean |h|; heads: RMS contribution; FFN: mean |a| x |W_out|)"


class SelectionError(EdgeTimeError):
    """A student that cannot be cut out of its teacher; the message names the fix."""


@dataclass(frozen=True)
class Selection:
    """Which teacher parts the student keeps (0-based indices, sorted)."""

    layers: list[int]  # teacher block per student layer
    hidden: list[int]  # residual-stream units, the same in every layer
    heads: list[list[int]]  # per student layer
    ffn: list[list[int]]  # per student layer
    criterion: str = CRITERION

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "Selection":
        return cls(**data)


def teacher_init_problem(teacher_config, size: StudentSize, teacher_layers: int) -> str | None:
    """Why ``size`` cannot be cut out of this teacher, or None when it can."""
    kind = teacher_config.model_type
    if kind not in TEACHER_INIT_TYPES:
        return f"teacher type {kind!r} has no absolute positions to copy (teacher init supports " \
               f"{', '.join(TEACHER_INIT_TYPES)})"
    if kind == "electra" and getattr(teacher_config, "embedding_size", None) not in (None, teacher_config.hidden_size):
        return "an ELECTRA teacher whose embedding size differs from its hidden size"
    head_dim = teacher_config.hidden_size // teacher_config.num_attention_heads
    limits = (("hidden", size.hidden, teacher_config.hidden_size), ("layers", size.layers, teacher_layers),
              ("ffn", size.ffn, teacher_config.intermediate_size))
    for name, student, teacher in limits:
        if student > teacher:
            return f"student {name} {student} is larger than the teacher's {teacher}"
    if size.hidden % head_dim:
        return f"student hidden {size.hidden} is not a multiple of the teacher's head size {head_dim}"
    return None


def teacher_init_size(size: StudentSize, teacher_config, heads_given: bool) -> StudentSize:
    """The size with heads of the teacher's head size (``hidden / head size`` heads).

    A preset's head count is a suggestion; an explicit ``--heads`` that does not match is an error.
    """
    head_dim = teacher_config.hidden_size // teacher_config.num_attention_heads
    heads = size.hidden // head_dim
    if heads != size.heads and heads_given:
        raise SelectionError(f"--heads {size.heads} gives heads of size {size.hidden // size.heads}, but a "
                             f"teacher-initialised student keeps the teacher's head size {head_dim}: pass "
                             f"--heads {heads}, or --init random")
    return StudentSize(hidden=size.hidden, layers=size.layers, heads=heads, ffn=size.ffn).validate()


def pick_layers(teacher_layers: int, student_layers: int) -> list[int]:
    """Evenly spaced teacher blocks (0-based) ending with the top one: 12 -> 6 gives 1, 3, ..., 11."""
    if not 1 <= student_layers <= teacher_layers:
        raise SelectionError(f"cannot pick {student_layers} of {teacher_layers} teacher layers")
    return [round((i + 1) * teacher_layers / student_layers) - 1 for i in range(student_layers)]


def _top(scores: torch.Tensor, k: int) -> list[int]:
    """Indices of the k largest scores, in ascending index order (keeps the teacher's unit order)."""
    return sorted(int(i) for i in torch.topk(scores.double(), k, sorted=True).indices)


@torch.no_grad()
def measure_importance(teacher: nn.Module, batches) -> dict[str, torch.Tensor]:
    """Activation statistics on real (unpadded) tokens of ``batches`` ({input_ids, attention_mask}).

    Returns ``hidden`` (H,), ``heads`` (layers, heads) and ``ffn`` (layers, F) importance scores.
    """
    model = base_model(teacher)
    blocks = attention_layers(teacher)
    config = model.config
    num_heads = config.num_attention_heads
    head_dim = config.hidden_size // num_heads
    hidden = torch.zeros(config.hidden_size, dtype=torch.float64)
    head_sq = torch.zeros(len(blocks), num_heads, dtype=torch.float64)
    ffn = torch.zeros(len(blocks), config.intermediate_size, dtype=torch.float64)
    tokens = 0
    real: dict[str, torch.Tensor] = {}
    handles = []
    for index, block in enumerate(blocks):
        out_proj = block.attention.output.dense.weight.detach().float()  # (H, heads * d)
        per_head = out_proj.view(out_proj.shape[0], num_heads, head_dim)
        gram = torch.einsum("ohd,ohe->hde", per_head, per_head)  # |x_h W_h^T|^2 = x_h G_h x_h^T

        def context_hook(module, args, index=index, gram=gram):
            x = args[0][real["mask"]].float().view(-1, num_heads, head_dim)  # (tokens, heads, d)
            head_sq[index] += torch.einsum("nhd,hde,nhe->h", x, gram, x).double()

        def ffn_hook(module, args, output, index=index):
            ffn[index] += output[real["mask"]].float().abs().sum(dim=0).double()

        handles.append(block.attention.output.dense.register_forward_pre_hook(context_hook))
        handles.append(block.intermediate.register_forward_hook(ffn_hook))
    try:
        for batch in batches:
            mask = batch["attention_mask"].bool()
            real["mask"] = mask
            out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                        output_hidden_states=True)
            for state in out.hidden_states:
                hidden += state[mask].float().abs().sum(dim=0).double()
            tokens += int(mask.sum())
    finally:
        for handle in handles:
            handle.remove()
    if tokens == 0:
        raise SelectionError("the corpus sample for teacher initialisation has no tokens; give a non-empty corpus")
    out_norms = torch.stack([block.output.dense.weight.detach().float().norm(dim=0) for block in blocks])
    return {"hidden": hidden / tokens, "heads": (head_sq / tokens).sqrt(), "ffn": ffn / tokens * out_norms.double()}


def select(importance: dict[str, torch.Tensor], size: StudentSize, teacher_config) -> Selection:
    """The student's parts: ``size.layers`` picked blocks and the most important units of each."""
    head_dim = teacher_config.hidden_size // teacher_config.num_attention_heads
    layers = pick_layers(importance["heads"].shape[0], size.layers)
    return Selection(layers=layers, hidden=_top(importance["hidden"], size.hidden),
                     heads=[_top(importance["heads"][i], size.hidden // head_dim) for i in layers],
                     ffn=[_top(importance["ffn"][i], size.ffn) for i in layers])


def student_state_dict(teacher: nn.Module, selection: Selection, kept_vocab: np.ndarray, max_positions: int,
                       type_vocab: int = 2) -> dict[str, torch.Tensor]:
    """The student's weights (BertModel names, pooler excluded) sliced out of the teacher's."""
    model = base_model(teacher)
    config = model.config
    head_dim = config.hidden_size // config.num_attention_heads
    teacher_state = {k: v.detach().float() for k, v in model.state_dict().items()}
    h = torch.tensor(selection.hidden)
    pad = config.pad_token_id if config.pad_token_id is not None else 1
    offset = position_offset(config.model_type, pad)
    types = teacher_state["embeddings.token_type_embeddings.weight"]
    state = {
        "embeddings.word_embeddings.weight": teacher_state["embeddings.word_embeddings.weight"][
            torch.from_numpy(np.asarray(kept_vocab, dtype=np.int64))][:, h],
        "embeddings.position_embeddings.weight":
            teacher_state["embeddings.position_embeddings.weight"][offset:offset + max_positions][:, h],
        "embeddings.token_type_embeddings.weight":
            types[[min(i, types.shape[0] - 1) for i in range(type_vocab)]][:, h],
        "embeddings.LayerNorm.weight": teacher_state["embeddings.LayerNorm.weight"][h],
        "embeddings.LayerNorm.bias": teacher_state["embeddings.LayerNorm.bias"][h],
    }
    for student_index, (block, heads, ffn) in enumerate(zip(selection.layers, selection.heads, selection.ffn)):
        t, s = f"encoder.layer.{block}.", f"encoder.layer.{student_index}."
        inner = torch.tensor([head * head_dim + j for head in heads for j in range(head_dim)])
        f = torch.tensor(ffn)
        for proj in ("query", "key", "value"):
            state[f"{s}attention.self.{proj}.weight"] = teacher_state[f"{t}attention.self.{proj}.weight"][inner][:, h]
            state[f"{s}attention.self.{proj}.bias"] = teacher_state[f"{t}attention.self.{proj}.bias"][inner]
        state[f"{s}attention.output.dense.weight"] = teacher_state[f"{t}attention.output.dense.weight"][h][:, inner]
        state[f"{s}intermediate.dense.weight"] = teacher_state[f"{t}intermediate.dense.weight"][f][:, h]
        state[f"{s}intermediate.dense.bias"] = teacher_state[f"{t}intermediate.dense.bias"][f]
        state[f"{s}output.dense.weight"] = teacher_state[f"{t}output.dense.weight"][h][:, f]
        for name in ("attention.output.dense.bias", "attention.output.LayerNorm.weight",
                     "attention.output.LayerNorm.bias", "output.dense.bias", "output.LayerNorm.weight",
                     "output.LayerNorm.bias"):
            state[s + name] = teacher_state[t + name][h]
    return {k: v.contiguous() for k, v in state.items()}


def init_from_teacher(student: nn.Module, teacher: nn.Module, selection: Selection, kept_vocab: np.ndarray) -> None:
    """Load the selected teacher weights into ``student`` (a BertModel built for the selected size)."""
    state = student_state_dict(teacher, selection, kept_vocab, student.config.max_position_embeddings,
                               student.config.type_vocab_size)
    missing, unexpected = student.load_state_dict(state, strict=False)
    left = [k for k in missing if not k.startswith("pooler.") and not k.endswith("position_ids")
            and not k.endswith("token_type_ids")]
    if left or unexpected:
        raise SelectionError(f"teacher weights do not fit the student (missing {left[:3]}, unexpected "
                             f"{unexpected[:3]}); use --init random")


def resolve_init(requested: str, teacher_config, size: StudentSize, teacher_layers: int,
                 heads_given: bool) -> tuple[str, StudentSize, str]:
    """('teacher'|'random', the student size, why): 'auto' is teacher init whenever the student fits."""
    if requested not in ("auto", "teacher", "random"):
        raise SelectionError(f"unknown --init {requested!r}; use teacher, random or auto")
    if requested == "random":
        return "random", size, "random initialisation (asked for)"
    problem = teacher_init_problem(teacher_config, size, teacher_layers)
    if problem is None:
        try:
            fitted = teacher_init_size(size, teacher_config, heads_given)
        except SelectionError:
            if requested == "teacher":
                raise
            return "random", size, "random initialisation: --heads does not keep the teacher's head size"
        return "teacher", fitted, f"teacher weights: {fitted.layers} of {teacher_layers} layers, selected units"
    if requested == "teacher":
        raise SelectionError(f"--init teacher: {problem}; choose a smaller student or --init random")
    return "random", size, f"random initialisation: {problem}"
