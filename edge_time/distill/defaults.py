"""Training defaults that fit the machine: a CPU preset and a GPU preset, chosen by device.

The paper's budget (batch 256 x 512 tokens, 200k steps) is a GPU cluster's; on a 2-core laptop
20 such steps take a quarter of an hour. The CPU preset is sized so that a teacher-initialised
``s`` student distils in about 10 minutes on 2 cores (measured in docs/benchmarks.md); every value
can still be set explicitly, which wins over the preset.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from edge_time.compute import device_kind
from edge_time.errors import EdgeTimeError

INITS = ("auto", "teacher", "random")


@dataclass(frozen=True)
class TrainingPreset:
    batch_size: int
    max_length: int
    max_steps: int
    save_every: int
    lr_random: float  # a random student needs a large step size
    lr_teacher: float  # a teacher-initialised one would be pushed away from its teacher by it


TRAINING_PRESETS: dict[str, TrainingPreset] = {
    "cpu": TrainingPreset(batch_size=32, max_length=128, max_steps=300, save_every=100, lr_random=6e-4,
                          lr_teacher=1e-4),
    "gpu": TrainingPreset(batch_size=256, max_length=512, max_steps=10_000, save_every=500, lr_random=6e-4,
                          lr_teacher=1e-4),
}
PRESET_CHOICES = ("auto",) + tuple(TRAINING_PRESETS)


def preset_for(name: str) -> tuple[str, TrainingPreset]:
    """('cpu'|'gpu', preset) for 'auto' (by device), 'cpu' or 'gpu'."""
    if name not in PRESET_CHOICES:
        raise EdgeTimeError(f"unknown preset {name!r}; use one of {', '.join(PRESET_CHOICES)}")
    resolved = device_kind() if name == "auto" else name
    return resolved, TRAINING_PRESETS[resolved]


def with_defaults(config, init: str):
    """``config`` (a DistillConfig) with every unset (None) budget field taken from its preset.

    ``init`` is the resolved student initialisation ('teacher' or 'random'); it picks the lr.
    """
    _, preset = preset_for(config.preset)
    filled = {name: getattr(preset, name) for name in ("batch_size", "max_length", "max_steps", "save_every")
              if getattr(config, name) is None}
    if config.lr is None:
        filled["lr"] = preset.lr_teacher if init == "teacher" else preset.lr_random
    return replace(config, **filled)
