"""Distillation: TiME / MiniLMv2 students from any supported encoder teacher.

    from edge_time.distill import DistillConfig, distill
    distill(DistillConfig(teacher="path/to/teacher", corpus=["cs.txt"], out="cs-s", size="s"))

Modules: ``teachers`` (where Q/K/V live per architecture), ``student`` (size presets), ``vocab``
(vocabulary trimming), ``loss`` (relation loss), ``data`` (corpus chunks and order),
``checkpoint``, ``card`` (model card) and ``recipe`` (the training loop, top to bottom).
"""

from edge_time.distill.recipe import DistillConfig, DistillError, distill
from edge_time.distill.student import PRESETS, StudentSize

__all__ = ["DistillConfig", "DistillError", "distill", "PRESETS", "StudentSize"]
