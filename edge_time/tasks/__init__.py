"""Pipeline tasks: UD tagging, lemmas and parsing, NER, classification and extractive QA.

Train with :func:`finetune`, score with :func:`evaluate`, predict with :func:`predict_file` or
:func:`load_predictor` (PyTorch task model folder or exported bundle). Decoding shared with the
device side lives in :mod:`edge_time.runtime.decode` and :mod:`edge_time.runtime.predict`.
"""

from edge_time.tasks.api import EvalResult, evaluate, load_predictor, predict_file, simple_tokenize
from edge_time.tasks.train import FinetuneConfig, FinetuneResult, finetune

__all__ = ["FinetuneConfig", "FinetuneResult", "finetune", "EvalResult", "evaluate", "load_predictor",
           "predict_file", "simple_tokenize"]
