"""Task heads over an encoder's layer stack: scores only, export-friendly (no data-dependent control flow).

Every head takes the (layers + 1, batch, seq, hidden) stack of hidden states. Word-level heads
also take ``word_pool`` (batch, words, seq), a pooling matrix built outside the graph
(:func:`edge_time.runtime.predict.word_inputs`), so subword -> word pooling is one ``bmm``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from edge_time.runtime.tasks import TASK_GRAPHS
from edge_time.tasks.data import get_task

NEG = -1.0e4  # finite "minus infinity": masked arcs stay comparable after int8/fp16 export


class LayerMix(nn.Module):
    """A learned softmax mix over all encoder layers (one per task, as in UDPipe 2 / TiME)."""

    def __init__(self, num_states: int):
        super().__init__()
        self.weights = nn.Parameter(torch.zeros(num_states))

    def forward(self, stack: torch.Tensor) -> torch.Tensor:
        weights = torch.softmax(self.weights, dim=0)
        return (stack * weights[:, None, None, None]).sum(dim=0)


class LayerMixes(nn.ModuleDict):
    """Named layer mixes of one head; ``forward`` returns their mixed states in name order."""

    def forward(self, stack: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(mix(stack) for mix in self.values())


class FoldedMixes(nn.Module):
    """Export form of a head's layer mixes: all of them as one MatMul over the stacked states.

    The mixes' softmaxes are computed once here, so the graph holds one MatMul instead of a softmax,
    a broadcast multiply and a sum per mix (UD: five). Same function in fp32 (only the summation
    order differs). Built by :func:`fold_layer_mixes`; returns a tuple for a :class:`LayerMixes`,
    a tensor for a single :class:`LayerMix`, like the module it replaces.
    """

    def __init__(self, mixes: list[LayerMix], single: bool):
        super().__init__()
        self.register_buffer("weights", torch.stack([torch.softmax(m.weights.detach(), dim=0) for m in mixes]))
        self.single = single

    def forward(self, stack: torch.Tensor):
        mixed = torch.matmul(self.weights, stack.reshape(stack.shape[0], -1))
        mixed = mixed.reshape((self.weights.shape[0],) + tuple(stack.shape[1:]))
        return mixed[0] if self.single else mixed.unbind(0)


def fold_layer_mixes(module: nn.Module) -> nn.Module:
    """``module`` with every layer mix replaced in place by its :class:`FoldedMixes` (export time only:
    the folded weights are buffers, no longer trained)."""
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, LayerMixes):
                setattr(parent, name, FoldedMixes(list(child.values()), single=False))
            elif isinstance(child, LayerMix) and not isinstance(parent, LayerMixes):
                setattr(parent, name, FoldedMixes([child], single=True))
    return module


def freeze_rel_projections(module: nn.Module) -> nn.Module:
    """``module`` with every UD head's deprel projection held as constant weights (export time only;
    see :meth:`UDHead.freeze_rel_projection`)."""
    for part in module.modules():
        if isinstance(part, UDHead):
            part.freeze_rel_projection()
    return module


class GegluMLP(nn.Module):
    """Linear -> GEGLU -> dropout -> linear (the reference's classifier block)."""

    def __init__(self, hidden: int, inner: int, out: int, dropout: float):
        super().__init__()
        self.gate_up = nn.Linear(hidden, 2 * inner)
        self.out = nn.Linear(inner, out)
        self.dropout = nn.Dropout(dropout)
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate_up = self.gate_up(x)
        gate, up = gate_up[..., : self.inner], gate_up[..., self.inner:]
        return self.out(self.dropout(F.gelu(gate) * up))


def pool_words(stack_mix: torch.Tensor, word_pool: torch.Tensor) -> torch.Tensor:
    return torch.bmm(word_pool, stack_mix)


class UDHead(nn.Module):
    """UPOS, XPOS, UFeats, lemma-rule classifiers and a biaffine parser over pooled words.

    Row 0 of the words axis is the root (the [CLS] vector). Outputs, all (batch, words, ...):
    upos, xpos, feats, lemma_rule class scores; ``arc[b, d, h]`` score of head h for dependent
    d (padding heads masked); ``deprel[b, d, h, :]`` label scores of the arc h -> d.

    Training reads label scores at one head per word only (the gold head, or a teacher's best):
    given ``label_heads`` (b, words), ``deprel`` is ``(b, words, labels)`` at those heads, or at
    the predicted best heads for ``label_heads="predicted"``. The all-pairs tensor is what the
    exported graph returns; in training it was most of the head's time.
    """

    def __init__(self, hidden: int, num_states: int, sizes: dict[str, int], mlp: int = 256, arc: int = 256,
                 rel: int = 64, dropout: float = 0.2):
        super().__init__()
        self.tag_names = ("upos", "xpos", "feats", "lemma_rule")
        self.mix = LayerMixes({name: LayerMix(num_states) for name in self.tag_names + ("parse",)})
        self.tag = nn.ModuleDict({name: GegluMLP(hidden, mlp, sizes[name], dropout) for name in self.tag_names})
        self.arc_dep = GegluMLP(hidden, mlp, arc, dropout)
        self.arc_head = GegluMLP(hidden, mlp, arc, dropout)
        self.arc_bilinear = nn.Parameter(torch.zeros(arc, arc))
        self.arc_head_bias = nn.Linear(arc, 1, bias=False)
        self.rel_dep = GegluMLP(hidden, mlp, rel, dropout)
        self.rel_head = GegluMLP(hidden, mlp, rel, dropout)
        self.rel_bilinear = nn.Parameter(torch.randn(sizes["deprel"], rel, rel) * rel ** -0.5)
        self.rel_linear = nn.Linear(2 * rel, sizes["deprel"])
        self.rel_projection: nn.Linear | None = None  # set by freeze_rel_projection (export)
        self.dropout = nn.Dropout(dropout)

    def forward(self, stack: torch.Tensor, word_pool: torch.Tensor, word_mask: torch.Tensor,
                label_heads: torch.Tensor | str | None = None):
        *tag_states, parse_state = self.mix(stack)
        outputs = [self.tag[name](self.dropout(pool_words(state, word_pool)))
                   for name, state in zip(self.tag_names, tag_states)]
        words = self.dropout(pool_words(parse_state, word_pool))
        dep, head = self.arc_dep(words), self.arc_head(words)
        arc = torch.bmm(torch.matmul(dep, self.arc_bilinear), head.transpose(1, 2))
        arc = arc + self.arc_head_bias(head).transpose(1, 2)
        # unsqueeze the int64 mask before casting: the reshape then stays outside XNNPACK, which
        # cannot take reshapes with two dynamic dimensions
        head_mask = word_mask[:, None, :].to(arc.dtype)
        arc = arc * head_mask + (1.0 - head_mask) * NEG
        rel_dep, rel_head = self.rel_dep(words), self.rel_head(words)
        if label_heads is not None:
            heads = arc.argmax(dim=-1) if isinstance(label_heads, str) else label_heads
            return tuple(outputs) + (arc, self.labels_at(rel_dep, rel_head, heads))
        # The biaffine scores dep W_l head + w_dep_l . dep + w_head_l . head + b_l as one product with
        # the head vector extended by a 1: (b, d, r) @ (r, l*(r+1)) + c, then (b, d, l, r+1) @ (b, 1, r+1, h)
        # -> (b, d, l, h) -> (b, d, h, l). A rank-2 weight int8 quantizers take (its extra column per
        # label is w_dep_l, quantized on its own per-column scale), one large GEMM instead of b*l small
        # ones, and the linear terms and the head mask (zeroed head vectors) applied on (b, h, r+1)
        # rather than as four passes over the (b, d, h, l) output (measured: 1% of the xs int8 ONNX graph).
        batch, width, rel = rel_dep.shape
        if self.rel_projection is not None:
            projected = self.rel_projection(rel_dep).reshape(batch, width, -1, rel + 1)
        else:
            projected = F.linear(rel_dep, *self._rel_projection()).reshape(batch, width, -1, rel + 1)
        head_mask = word_mask[:, :, None].to(rel_head.dtype)
        extended = torch.cat([rel_head, torch.ones_like(rel_head[..., :1])], dim=-1) * head_mask
        deprel = torch.matmul(projected, extended.transpose(1, 2)[:, None]).transpose(2, 3)
        return tuple(outputs) + (arc, deprel)

    def _rel_bilinear_flat(self) -> torch.Tensor:
        """The (labels, r, r) bilinear weight as (r, labels * r): column l * r + j is W[l, :, j]."""
        labels, rel, _ = self.rel_bilinear.shape
        return self.rel_bilinear.permute(1, 0, 2).reshape(rel, labels * rel)

    def _rel_projection(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Weight (l*(r+1), r) and bias (l*(r+1)) of the dependent-side projection against the head
        vector extended by a 1: for label l, columns W_l[:, j] + bias w_head_l[j] (j < r), then w_dep_l
        + bias b_l (j = r)."""
        labels, rel, _ = self.rel_bilinear.shape
        w_dep, w_head = self.rel_linear.weight[:, :rel], self.rel_linear.weight[:, rel:]
        weight = torch.cat([self.rel_bilinear.permute(0, 2, 1), w_dep[:, None, :]], dim=1)  # (l, r+1, r)
        bias = torch.cat([w_head, self.rel_linear.bias[:, None]], dim=1)  # (l, r+1)
        return weight.reshape(labels * (rel + 1), rel), bias.reshape(-1)

    def freeze_rel_projection(self) -> None:
        """Hold the deprel projection as a linear with constant weights, for an inference graph.

        Computed at every forward, its weight is a graph value rather than a parameter; XNNPACK takes
        only linears with constant weights, so an int8 ExecuTorch export left it outside the delegate
        (and its quantize ops without kernels). Training keeps computing it from the parameters.
        """
        weight, bias = self._rel_projection()
        self.rel_projection = nn.Linear(weight.shape[1], weight.shape[0]).requires_grad_(False)
        with torch.no_grad():
            self.rel_projection.weight.copy_(weight)
            self.rel_projection.bias.copy_(bias)

    def labels_at(self, rel_dep: torch.Tensor, rel_head: torch.Tensor, heads: torch.Tensor) -> torch.Tensor:
        """Label scores (b, d, labels) of the arcs heads[b, d] -> d: the all-pairs scores at those heads."""
        batch, width, rel = rel_dep.shape
        at = rel_head.gather(1, heads.clamp(min=0)[:, :, None].expand(-1, -1, rel))  # (b, d, r)
        labels = self.rel_bilinear.shape[0]
        # one GEMM: (b*d, r) @ (r, labels*r), then a dot with the head vector per label
        projected = rel_dep.reshape(-1, rel) @ self._rel_bilinear_flat()
        bilinear = (projected.view(batch, width, labels, rel) * at[:, :, None, :]).sum(dim=-1)
        w_dep, w_head = self.rel_linear.weight[:, :rel], self.rel_linear.weight[:, rel:]
        return bilinear + rel_dep @ w_dep.t() + at @ w_head.t() + self.rel_linear.bias


class NERHead(nn.Module):
    """BIO tag scores per word from its first subword (``word_pool`` picks it), layer-mixed."""

    def __init__(self, hidden: int, num_states: int, num_tags: int, dropout: float = 0.1):
        super().__init__()
        self.mix = LayerMix(num_states)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden, num_tags)

    def forward(self, stack: torch.Tensor, word_pool: torch.Tensor, word_mask: torch.Tensor):
        return (self.classifier(self.dropout(pool_words(self.mix(stack), word_pool))),)


class ClsHead(nn.Module):
    """Sentence label scores from the masked mean of the layer-mixed token vectors."""

    def __init__(self, hidden: int, num_states: int, num_labels: int, dropout: float = 0.1):
        super().__init__()
        self.mix = LayerMix(num_states)
        self.dropout = nn.Dropout(dropout)
        self.classifier = GegluMLP(hidden, hidden, num_labels, dropout)

    def forward(self, stack: torch.Tensor, attention_mask: torch.Tensor):
        mask = attention_mask.to(stack.dtype)[:, :, None]
        mean = (self.mix(stack) * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        return (self.classifier(self.dropout(mean)),)


class QAHead(nn.Module):
    """Answer start/end scores per token (SQuAD-style extractive QA)."""

    def __init__(self, hidden: int, num_states: int, dropout: float = 0.1):
        super().__init__()
        self.mix = LayerMix(num_states)
        self.dropout = nn.Dropout(dropout)
        self.span = nn.Linear(hidden, 2)

    def forward(self, stack: torch.Tensor, attention_mask: torch.Tensor):
        logits = self.span(self.dropout(self.mix(stack)))
        mask = attention_mask.to(logits.dtype)
        start = logits[..., 0] * mask + (1.0 - mask) * NEG
        end = logits[..., 1] * mask + (1.0 - mask) * NEG
        return start, end


def build_head(task: str, hidden: int, num_states: int, labels: dict[str, list[str]], config: dict) -> nn.Module:
    """The head of ``task`` (built by its :class:`edge_time.tasks.data.Task`)."""
    return get_task(task).build_head(hidden, num_states, labels, config)


class TaskModel(nn.Module):
    """Encoder stack -> head. ``encoder(input_ids, attention_mask[, position_ids])`` returns the stack.

    ``forward`` has exactly the graph's inputs as named parameters (torch.export matches dynamic
    shapes to them), so there is one small subclass per input layout: see :func:`task_model`.
    """

    def __init__(self, task: str, encoder: nn.Module, head: nn.Module):
        super().__init__()
        self.task, self.encoder, self.head = task, encoder, head

    def train_scores(self, arrays: dict, **head_options):
        """A training forward on the numpy batch a predictor built (no position_ids: the training form)."""
        names = ("input_ids", "attention_mask") + TASK_GRAPHS[self.task].word_inputs
        return self.scores(**{name: torch.from_numpy(arrays[name]) for name in names}, **head_options)

    def scores(self, input_ids, attention_mask, position_ids=None, word_pool=None, word_mask=None, **head_options):
        """The head's outputs; ``head_options`` are training-only head arguments (UD: ``label_heads``)."""
        if position_ids is not None:
            stack = self.encoder(input_ids, attention_mask, position_ids)
        else:
            stack = self.encoder(input_ids, attention_mask)
        if TASK_GRAPHS[self.task].word_level:
            return self.head(stack, word_pool, word_mask, **head_options)
        return self.head(stack, attention_mask, **head_options)


class _TextGraph(TaskModel):
    def forward(self, input_ids, attention_mask):
        return self.scores(input_ids, attention_mask)


class _TextGraphPositions(TaskModel):
    def forward(self, input_ids, attention_mask, position_ids):
        return self.scores(input_ids, attention_mask, position_ids)


class _WordGraph(TaskModel):
    def forward(self, input_ids, attention_mask, word_pool, word_mask):
        return self.scores(input_ids, attention_mask, None, word_pool, word_mask)


class _WordGraphPositions(TaskModel):
    def forward(self, input_ids, attention_mask, position_ids, word_pool, word_mask):
        return self.scores(input_ids, attention_mask, position_ids, word_pool, word_mask)


def task_model(task: str, encoder: nn.Module, head: nn.Module, explicit_positions: bool = False) -> TaskModel:
    """The module whose forward takes (input_ids, attention_mask[, position_ids][, word_pool, word_mask])."""
    words = TASK_GRAPHS[task].word_level
    cls = {(False, False): _TextGraph, (False, True): _TextGraphPositions,
           (True, False): _WordGraph, (True, True): _WordGraphPositions}[(words, explicit_positions)]
    return cls(task, encoder, head)


class HFStack(nn.Module):
    """A Hugging Face encoder returning the (layers + 1, batch, seq, hidden) stack (training form)."""

    def __init__(self, hf_model: nn.Module):
        super().__init__()
        self.model = hf_model

    def forward(self, input_ids, attention_mask, position_ids=None):
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
        return torch.stack(out.hidden_states)
