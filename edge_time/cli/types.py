"""Numeric option types shared by the commands: bad values fail in click with the option's name and range."""

from __future__ import annotations

import click

COUNT = click.IntRange(min=1)  # sizes, steps, batches, lengths, intervals
NON_NEGATIVE = click.IntRange(min=0)  # 0 means "none" (warm-up steps, task-distillation steps)
POSITIVE_FLOAT = click.FloatRange(min=0.0, min_open=True)  # learning rates, periods, timeouts
NON_NEGATIVE_FLOAT = click.FloatRange(min=0.0)  # weights, decays, waits
PROBABILITY = click.FloatRange(min=0.0, max=1.0, max_open=True)  # dropout, label smoothing
FRACTION = click.FloatRange(min=0.0, max=1.0, min_open=True)  # shares in (0, 1]


class _TokenBudget(click.IntRange):
    """A token count, or 0 for "no bound", which the API spells None."""

    name = "tokens"

    def convert(self, value, param, ctx):
        return super().convert(value, param, ctx) or None


TOKEN_BUDGET = _TokenBudget(min=0)  # --batch-tokens: padded tokens per batch at most; 0: no bound
