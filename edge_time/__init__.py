"""edge-time: tiny monolingual encoders (TiME), fine-tuned, exported and profiled on devices.

The whole flow as a typed Python API (each name is imported on first use, so ``import edge_time``
stays light and a device that only runs bundles never loads torch):

    >>> import edge_time
    >>> edge_time.distill_student(edge_time.DistillConfig(teacher="e5/", corpus=["cs.txt"], size="s", out="student/"))
    >>> edge_time.finetune(edge_time.FinetuneConfig(task="ud", model="student/", train="train.conllu",
    ...                                             dev="dev.conllu", out="tagger/"))
    >>> result = edge_time.export("tagger/", target="executorch", out="bundles/tagger", quantize="int8-dynamic")
    >>> model = edge_time.load_bundle("bundles/tagger")
    >>> edge_time.profile(["bundles/tagger"], edge_time.open_target("local"), edge_time.RunConfig(), "report/")
    >>> edge_time.run_bench(edge_time.BenchConfig(models=["tagger/", "bundles/tagger"], task_data="dev.conllu"))
    >>> edge_time.run_quickstart(edge_time.QuickstartConfig(out="qs/"), say=print)  # all of it, built-in data
"""

from __future__ import annotations

from importlib import import_module

__version__ = "0.1.0"

# public name -> module that defines it
_API = {
    "export": ("edge_time.exporters", "export_model"),
    "ExportResult": ("edge_time.exporters", "ExportResult"),
    "ParityThresholds": ("edge_time.exporters", "ParityThresholds"),
    "load_bundle": ("edge_time.runtime", "load_bundle"),
    "distill_student": ("edge_time.distill", "distill"),  # `edge_time.distill` is the subpackage
    "DistillConfig": ("edge_time.distill", "DistillConfig"),
    "finetune": ("edge_time.tasks", "finetune"),
    "FinetuneConfig": ("edge_time.tasks", "FinetuneConfig"),
    "evaluate": ("edge_time.tasks", "evaluate"),
    "profile": ("edge_time.profiler", "profile"),
    "open_target": ("edge_time.profiler", "open_target"),
    "RunConfig": ("edge_time.profiler", "RunConfig"),
    "ProfileConfig": ("edge_time.profiler", "ProfileConfig"),
    "run_quickstart": ("edge_time.quickstart", "quickstart"),  # `edge_time.quickstart` is the subpackage
    "QuickstartConfig": ("edge_time.quickstart", "QuickstartConfig"),
    "run_bench": ("edge_time.bench", "bench"),  # `edge_time.bench` is the subpackage
    "BenchConfig": ("edge_time.bench", "BenchConfig"),
    "EdgeTimeError": ("edge_time.errors", "EdgeTimeError"),
}

__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module 'edge_time' has no attribute {name!r}")
    module, attribute = _API[name]
    return getattr(import_module(module), attribute)
