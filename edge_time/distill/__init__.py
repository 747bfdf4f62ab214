"""Distillation: TiME / MiniLMv2 students from any supported encoder teacher.

    from edge_time.distill import DistillConfig, distill
    distill(DistillConfig(teacher="path/to/teacher", corpus=["cs.txt"], out="cs-s", size="s"))

Modules: ``teachers`` (where Q/K/V live per architecture), ``student`` (size presets),
``selection`` (students cut out of their teacher), ``defaults`` (CPU/GPU budget presets), ``vocab``
(vocabulary trimming), ``loss`` (relation and hidden-state losses), ``data`` (corpus chunks and
order), ``checkpoint``, ``card`` (model card), ``config`` (``DistillConfig``, no torch), ``prepare``
(checks, run folder, tokenized data) and ``recipe`` (the training loop, top to bottom).
Names are imported on first use, so the CLI reads the presets without loading torch.
"""

from __future__ import annotations

from edge_time.lazy import lazy_attributes

_API = {
    "DistillConfig": "edge_time.distill.config",
    "DistillError": "edge_time.distill.config",
    "distill": "edge_time.distill.recipe",
    "PRESETS": "edge_time.distill.student",
    "StudentSize": "edge_time.distill.student",
}
__all__ = list(_API)

__getattr__ = lazy_attributes(__name__, _API)
