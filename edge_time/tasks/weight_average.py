"""An exponential moving average (EMA) of a model's trainable weights, swapped in to evaluate and save.

The reference TiME fine-tuning keeps an EMA of the weights. On a small dev set a short gold stage's
dev scores swing from one evaluation to the next (an xs student's LAS moved 78.7-81.3 between
evaluations 50 steps apart on Czech PUD dev); the average moves less, so the checkpoint early stopping
keeps depends less on which step happened to be evaluated.

Only trainable parameters are averaged (a frozen 250k-row embedding matrix costs nothing), and the
average lives beside the model instead of in a second copy of it: :meth:`WeightAverage.applied` puts it
into the model for the duration of a ``with`` block and puts the training weights back afterwards.
(``torch.optim.swa_utils.AveragedModel`` deep-copies the whole model and averages every parameter,
frozen ones included; its copy would also need its own predictor and saving path.)
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn


class WeightAverage:
    """``average = decay * average + (1 - decay) * weights`` after every :meth:`update`, starting at the
    weights the model has when this is built."""

    def __init__(self, module: nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay {decay} must be in (0, 1)")
        self.decay = decay
        self.params = [p for p in module.parameters() if p.requires_grad]
        self.average = [p.detach().clone() for p in self.params]

    @torch.no_grad()
    def update(self) -> None:
        torch._foreach_lerp_(self.average, [p.detach() for p in self.params], 1.0 - self.decay)

    @contextmanager
    @torch.no_grad()
    def applied(self) -> Iterator[None]:
        """The model holds the average inside the block and its own training weights again after it."""
        training = [p.detach().clone() for p in self.params]
        for param, average in zip(self.params, self.average):
            param.copy_(average)
        try:
            yield
        finally:
            for param, weights in zip(self.params, training):
                param.copy_(weights)
