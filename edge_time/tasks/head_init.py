"""A teacher-initialised student's task head: the fine-tuned teacher's head, cut like the encoder was.

A student cut out of its teacher (``edge-time distill --init teacher``) keeps a known subset of the
teacher's layers and residual-stream units (``selection`` in its ``distill_config.json``). The
teacher's fine-tuned head reads exactly those units, so the student's head can start as the
teacher's: layer-mix weights at the kept layers (plus the embeddings), input columns at the kept
units, everything inside the head copied. Task distillation then starts from a parser that already
works instead of a random one (docs/tasks.md, "Teacher-initialised heads", has the measured gain).

Only heads whose input is the pooled hidden state are cut (UD, NER); a head whose inner width
follows the hidden size (cls) or has no teacher counterpart starts random, and the reason is logged.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from edge_time.errors import EdgeTimeError
from edge_time.modeling.spec import DISTILL_CONFIG_NAME, distill_record
from edge_time.tasks.config import HEAD_INITS
from edge_time.tasks.heads import GegluMLP, LayerMix

def student_selection(model_dir: Path) -> dict | None:
    """The teacher parts a distilled student kept (``layers``, ``hidden``), or None (random init / not a student)."""
    selection = (distill_record(model_dir) or {}).get("selection")
    if not isinstance(selection, dict) or not {"layers", "hidden"} <= set(selection):
        return None
    return selection


def cut_head_state(teacher_head: nn.Module, student_head: nn.Module, selection: dict,
                   teacher_hidden: int) -> dict[str, torch.Tensor]:
    """The teacher head's weights in the student head's shapes; raises ``ValueError`` when they cannot fit.

    Layer mixes: teacher state 0 (embeddings) and ``layer + 1`` for every kept block. A weight axis
    of the teacher's hidden size where the student has its own hidden size: the kept units. Every
    other axis must match exactly (same head sizes and labels).
    """
    states = torch.tensor([0] + [layer + 1 for layer in selection["layers"]])
    units = torch.tensor(selection["hidden"])
    target = student_head.state_dict()
    mixes = {f"{name}.weights".lstrip(".") for name, module in teacher_head.named_modules() if isinstance(module, LayerMix)}
    teacher_state = teacher_head.state_dict()
    teacher_state.update(narrowed_mlps(teacher_head, student_head))
    state = {}
    for name, weight in teacher_state.items():
        want = target.get(name)
        if want is None:
            raise ValueError(f"the student head has no {name}")
        if name in mixes:
            weight = weight[states]
        for axis, (have, need) in enumerate(zip(weight.shape, want.shape)):
            if have != need and have == teacher_hidden and need == len(units):
                weight = weight.index_select(axis, units)
        if weight.shape != want.shape:
            raise ValueError(f"{name}: teacher {tuple(weight.shape)} vs student {tuple(want.shape)}")
        state[name] = weight.detach().clone().to(want.dtype)
    return state


def narrowed_mlps(teacher_head: nn.Module, student_head: nn.Module) -> dict[str, torch.Tensor]:
    """The teacher's GEGLU classifiers cut to the student's narrower inner width (``--head-mlp``).

    Each keeps the inner units that carry most weight, ``|out column| x |up row|``, so a unit whose
    output weights are zero is always the first to go; units keep their order.
    """
    students = dict(student_head.named_modules())
    state = {}
    for name, mlp in teacher_head.named_modules():
        other = students.get(name)
        if not isinstance(mlp, GegluMLP) or not isinstance(other, GegluMLP) or other.inner >= mlp.inner:
            continue
        up = mlp.gate_up.weight[mlp.inner:]
        weight = mlp.out.weight.norm(dim=0) * up.norm(dim=1)
        keep = weight.topk(other.inner).indices.sort().values
        rows = torch.cat([keep, keep + mlp.inner])
        state[f"{name}.gate_up.weight"] = mlp.gate_up.weight[rows]
        state[f"{name}.gate_up.bias"] = mlp.gate_up.bias[rows]
        state[f"{name}.out.weight"] = mlp.out.weight[:, keep]
    return state


def init_head_from_teacher(requested: str, head: nn.Module, teacher, student_dir: Path, student_hidden: int,
                           log=print) -> str:
    """Load ``teacher``'s head into ``head`` when asked (``auto``: whenever it fits); returns what was done.

    ``teacher`` is a loaded task model (its ``head`` and ``hf_model``) or None.
    """
    if requested not in HEAD_INITS:
        raise EdgeTimeError(f"unknown --head-init {requested!r}; use {', '.join(HEAD_INITS)}")
    if requested == "random":
        return "random"
    problem = None
    selection = student_selection(student_dir)
    if teacher is None:
        problem = "no --teacher-model to take the head from"
    elif selection is None:
        problem = f"{student_dir} is not a teacher-initialised student (no selection in its {DISTILL_CONFIG_NAME})"
    elif len(selection["hidden"]) != student_hidden:
        problem = f"the student's hidden size {student_hidden} is not its selection's {len(selection['hidden'])} units"
    else:
        config = teacher.hf_model.config
        if max(selection["hidden"]) >= config.hidden_size or max(selection["layers"]) >= config.num_hidden_layers:
            problem = "the student's selection does not index into the --teacher-model's encoder"
        else:
            try:
                state = cut_head_state(teacher.head, head, selection, config.hidden_size)
            except ValueError as exc:
                problem = f"the teacher head does not fit the student's ({exc})"
    if problem is not None:
        if requested == "teacher":
            raise EdgeTimeError(f"--head-init teacher: {problem}; use --head-init random")
        log(f"head init: random ({problem})")
        return "random"
    head.load_state_dict(state)
    widths = {(mlp.inner, other.inner) for mlp, other in zip(_mlps(teacher.head), _mlps(head)) if other.inner < mlp.inner}
    narrowed = "".join(f", classifiers cut from {a} to {b} inner units" for a, b in sorted(widths))
    log(f"head init: the teacher's head at layers {[layer + 1 for layer in selection['layers']]} and "
        f"{len(selection['hidden'])} kept units{narrowed}")
    return "teacher"


def _mlps(head: nn.Module) -> list[GegluMLP]:
    return [module for module in head.modules() if isinstance(module, GegluMLP)]
