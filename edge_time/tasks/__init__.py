"""Pipeline tasks: UD tagging, lemmas and parsing, NER, classification and extractive QA.

Train with :func:`finetune`, score with :func:`evaluate`, predict with :func:`predict_file` or
:func:`load_predictor` (PyTorch task model folder or exported bundle). Decoding shared with the
device side lives in :mod:`edge_time.runtime.decode` and :mod:`edge_time.runtime.predict`.
Names are imported on first use, so predicting with a bundle never loads torch.
"""

from __future__ import annotations

from edge_time.lazy import lazy_attributes

# public name -> module that defines it
_API = {
    "FinetuneConfig": "edge_time.tasks.config",
    "FinetuneResult": "edge_time.tasks.train",
    "finetune": "edge_time.tasks.train",
    "EvalResult": "edge_time.tasks.api",
    "evaluate": "edge_time.tasks.api",
    "load_predictor": "edge_time.tasks.api",
    "predict_file": "edge_time.tasks.api",
    "simple_tokenize": "edge_time.tasks.formats",
}

__all__ = list(_API)

__getattr__ = lazy_attributes(__name__, _API)
