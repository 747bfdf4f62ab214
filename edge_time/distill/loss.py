"""MiniLMv2 self-attention relation loss, computed in fp32 and in query blocks.

For a relation (m, n) (Q-Q, K-K, V-V, or any pair) and each example b, relation head a:

    T = softmax(X^t_m X^t_n^T / sqrt(d^t_r)),  S = softmax(X^s_m X^s_n^T / sqrt(d^s_r))
    loss_b = sum_a sum_{real queries q} KL(T[q] || S[q]) / (A_r * len_b)

with padded keys masked out, averaged over the batch and summed over relations with weights.
X^t is the teacher's projection of layer L, X^s the student's last layer, both split into A_r
relation heads (d_r = hidden / A_r, separately for teacher and student).

Why a custom autograd function: the gradient of the KL with respect to the student logits is
simply ``w_q * (S - T)``. ``RelationKL`` computes loss *and* the input gradients block by block
in the forward pass and saves only the gradients (the size of the projections), so no
(batch x heads x S x S) tensor is kept for backward and peak memory is one block instead of all
relations at full length. ``reference_relation_loss`` is the direct, fully materialised
definition; tests prove both agree, ``benchmarks/distill_step.py`` measures the difference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from edge_time.distill.config import DEFAULT_BLOCK_ELEMENTS

MASKED = -1.0e9  # finite: exp() underflows to exactly 0 in fp32, and 0 * finite stays 0 (no NaN)


@dataclass(frozen=True)
class Relation:
    """One relation: softmax(first @ second^T) compared between teacher and student."""

    first: str  # "q", "k" or "v"
    second: str
    weight: float = 1.0

    @classmethod
    def parse(cls, text: str) -> "Relation":
        """'qq', 'kk:0.5', 'qk' -> Relation."""
        name, _, weight = text.strip().lower().partition(":")
        if len(name) != 2 or any(c not in "qkv" for c in name):
            raise ValueError(f"relation {text!r}: write two of q/k/v with an optional weight, e.g. qq, vv:0.5")
        return cls(name[0], name[1], float(weight) if weight else 1.0)

    def __str__(self) -> str:
        return f"{self.first}{self.second}:{self.weight:g}"


DEFAULT_RELATIONS = (Relation("q", "q"), Relation("k", "k"), Relation("v", "v"))


def split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(B, S, H) -> (B, heads, S, H / heads), fp32 and contiguous (so per-block matmuls copy nothing)."""
    b, s, h = x.shape
    return x.float().view(b, s, heads, h // heads).transpose(1, 2).contiguous()


def query_weights(attention_mask: torch.Tensor, heads: int) -> torch.Tensor:
    """(B, S) weight of each query: 1 / (A_r * len_b * B) on real tokens, 0 on padding."""
    mask = attention_mask.float()
    lengths = mask.sum(dim=1, keepdim=True).clamp(min=1.0)
    return mask / (lengths * heads * mask.shape[0])


class RelationKL(torch.autograd.Function):
    """sum_{b,a,q} w[b,q] * KL(T[b,a,q] || S[b,a,q]) for one relation; see module docstring.

    Per block of query rows, with z = scaled logits and lse = logsumexp over keys:
    KL rows = sum_k T * (z_t - z_s) + lse_s - lse_t, and the student-logit gradient w * (S - T).
    """

    @staticmethod
    def forward(ctx, s_first, s_second, t_first, t_second, key_mask, weights, block_rows):
        # s_*: (B, A, S, ds), t_*: (B, A, S, dt), contiguous fp32; key_mask (B, 1, 1, S) bool; weights (B, S)
        need_grad = ctx.needs_input_grad[0] or ctx.needs_input_grad[1]
        s_scale = 1.0 / math.sqrt(s_first.shape[-1])
        t_scale = 1.0 / math.sqrt(t_first.shape[-1])
        s_first_scaled, t_first_scaled = s_first * s_scale, t_first * t_scale
        s_second_t, t_second_t = s_second.transpose(-1, -2), t_second.transpose(-1, -2)
        padded = not bool(key_mask.all())
        seq = s_first.shape[2]
        total = s_first.new_zeros(())
        grad_first = torch.zeros_like(s_first) if need_grad else None
        grad_second = torch.zeros_like(s_second) if need_grad else None
        for q0 in range(0, seq, block_rows):
            q1 = min(seq, q0 + block_rows)
            z_s = torch.matmul(s_first_scaled[:, :, q0:q1], s_second_t)  # (B, A, rows, S)
            z_t = torch.matmul(t_first_scaled[:, :, q0:q1], t_second_t)
            if padded:
                z_s.masked_fill_(~key_mask, MASKED)
                z_t.masked_fill_(~key_mask, MASKED)
            lse_s = torch.logsumexp(z_s, dim=-1, keepdim=True)
            lse_t = torch.logsumexp(z_t, dim=-1, keepdim=True)
            t_prob = torch.exp(z_t - lse_t)
            kl_rows = (t_prob * z_t.sub_(z_s)).sum(dim=-1) + (lse_s - lse_t).squeeze(-1)  # (B, A, rows)
            w = weights[:, None, q0:q1]  # (B, 1, rows)
            total += (kl_rows * w).sum()
            if need_grad:
                # d loss / d student logits = w_q * (S - T); masked keys have S = T = 0.
                g = z_s.sub_(lse_s).exp_().sub_(t_prob).mul_((w * s_scale)[..., None])
                grad_first[:, :, q0:q1] = torch.matmul(g, s_second)
                grad_second.add_(torch.matmul(g.transpose(-1, -2), s_first[:, :, q0:q1]))
        if need_grad:
            ctx.save_for_backward(grad_first, grad_second)
        return total

    @staticmethod
    def backward(ctx, grad_output):
        grad_first, grad_second = ctx.saved_tensors
        return grad_first * grad_output, grad_second * grad_output, None, None, None, None, None


def relation_loss(student: dict[str, torch.Tensor], teacher: dict[str, torch.Tensor],
                  attention_mask: torch.Tensor, relation_heads: int,
                  relations: tuple[Relation, ...] = DEFAULT_RELATIONS,
                  block_elements: int = DEFAULT_BLOCK_ELEMENTS) -> torch.Tensor:
    """Weighted sum of relation KLs; ``student``/``teacher`` map 'q'/'k'/'v' to (B, S, H) projections.

    ``block_elements`` bounds the floats of one (B, A_r, rows, S) logits block.
    """
    batch, seq = attention_mask.shape
    key_mask = attention_mask.bool()[:, None, None, :]
    weights = query_weights(attention_mask, relation_heads)
    block_rows = max(1, block_elements // max(1, batch * relation_heads * seq))
    s = {name: split_heads(x, relation_heads) for name, x in student.items()}
    t = {name: split_heads(x.detach(), relation_heads) for name, x in teacher.items()}
    total = attention_mask.new_zeros((), dtype=torch.float32)
    for rel in relations:
        kl = RelationKL.apply(s[rel.first], s[rel.second], t[rel.first], t[rel.second], key_mask, weights, block_rows)
        total = total + rel.weight * kl
    return total


def reference_relation_loss(student: dict[str, torch.Tensor], teacher: dict[str, torch.Tensor],
                            attention_mask: torch.Tensor, relation_heads: int,
                            relations: tuple[Relation, ...] = DEFAULT_RELATIONS) -> torch.Tensor:
    """The definition written out directly, every relation fully materialised (tests, benchmark)."""
    mask = attention_mask.bool()
    lengths = mask.sum(dim=1).float()
    total = 0.0
    for rel in relations:
        def probs(proj):
            x, y = split_heads(proj[rel.first], relation_heads), split_heads(proj[rel.second], relation_heads)
            logits = x @ y.transpose(-1, -2) / math.sqrt(x.shape[-1])
            return torch.log_softmax(logits.masked_fill(~mask[:, None, None, :], float("-inf")), dim=-1)

        s_logp, t_logp = probs(student), probs({k: v.detach() for k, v in teacher.items()})
        kl = torch.nn.functional.kl_div(s_logp, t_logp, log_target=True, reduction="none")
        kl = kl.masked_fill(~mask[:, None, None, :], 0.0).sum(-1)  # (B, A, S) per query
        per_example = (kl * mask[:, None, :]).sum(dim=(1, 2)) / (relation_heads * lengths)
        total = total + rel.weight * per_example.mean()
    return total


def hidden_state_loss(student_states: list[torch.Tensor], teacher_states: list[torch.Tensor], units: list[int],
                      attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean over layers of the MSE between student states and the teacher's at the kept ``units``.

    For teacher-initialised students only: their unit i *is* teacher unit ``units[i]``, so the states
    can be compared directly, without the learned projection TinyBERT needs. Real tokens only, fp32.
    """
    mask = attention_mask.bool()
    index = torch.as_tensor(units, device=teacher_states[0].device)
    total = attention_mask.new_zeros((), dtype=torch.float32)
    for student, teacher in zip(student_states, teacher_states):
        diff = student.float()[mask] - teacher.detach().float().index_select(-1, index)[mask]
        total = total + diff.pow(2).mean()
    return total / max(1, len(student_states))
