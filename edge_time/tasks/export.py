"""ExportSpec of a fine-tuned task model: encoder (export-friendly form) + head, scores out.

``edge_time.exporters.api.load_export_spec`` calls :func:`task_export_spec` for any folder with
``edge_time_task.json``. The graph returns scores only; tree decoding, lemma rules and BIO
spans run in ``edge_time.runtime`` on the device. ``make_inputs`` uses the runtime's own input
builder (:class:`edge_time.runtime.predict.TaskPredictor`), so parity and calibration inputs
are built exactly as the device builds them.
"""

from __future__ import annotations

from pathlib import Path

import torch

from edge_time.modeling.encoder import EdgeEncoder, supports
from edge_time.modeling.spec import ExportSpec, ModelLoadError, weights_sha256
from edge_time.runtime.predict import TaskPredictor
from edge_time.runtime.tasks import TASK_GRAPHS
from edge_time.runtime.tokenize import TextEncoder
from edge_time.tasks.checkpoint import load_task_model
from edge_time.tasks.data import get_task
from edge_time.tasks.heads import HFStack, fold_layer_mixes, freeze_rel_projections, task_model


def task_export_spec(model_dir: Path, work_dir: Path, max_length: int = 512,
                     explicit_positions: bool = False) -> ExportSpec:
    loaded = load_task_model(model_dir, tokenizer_dir=work_dir / "tokenizer")
    spec, hf = loaded.spec, loaded.hf_model
    edge_form = supports(hf)
    if explicit_positions and not edge_form:
        raise ModelLoadError(f"--compat tflite-runtime needs a BERT-family encoder, not {hf.config.model_type}")
    encoder = EdgeEncoder(hf, all_layers=True, explicit_positions=explicit_positions) if edge_form else HFStack(hf)
    # the layer mixes become one MatMul in the graph (training keeps one readable module per mix), and the
    # deprel projection a linear with constant weights (XNNPACK delegates only those)
    module = freeze_rel_projections(fold_layer_mixes(
        task_model(spec.task, encoder, loaded.head, explicit_positions=explicit_positions))).eval()

    info = loaded.text_encoder.info
    max_length = min(max_length, spec.max_length, int(hf.config.max_position_embeddings) - info.position_offset)
    text_encoder = TextEncoder(work_dir / "tokenizer" / info.file, info, max_length)
    predictor = TaskPredictor(spec.task, spec.labels, spec.task_config, text_encoder, run=None)

    graph = TASK_GRAPHS[spec.task]
    inputs = graph.input_specs(["input_ids", "attention_mask"] + (["position_ids"] if explicit_positions else []))
    names = [s.name for s in inputs]
    axes = {"batch": [1, 64], "seq": [2, max_length]}
    if graph.word_level:
        axes["words"] = [graph.min_words, max_length]

    def make_inputs(texts: list[str], seq_len: int | None = None) -> dict[str, torch.Tensor]:
        arrays = get_task(spec.task).sample_inputs(predictor, texts, seq_len)
        return {name: torch.from_numpy(arrays[name]) for name in names}

    return ExportSpec(
        module=module,
        task=spec.task,
        inputs=inputs,
        outputs=graph.output_specs(spec.labels),
        axes=axes,
        tokenizer_dir=work_dir / "tokenizer",
        tokenizer_info=info,
        max_length=max_length,
        source={"model": str(model_dir), "sha256": weights_sha256(Path(model_dir)),
                "architecture": type(hf).__name__, "model_type": hf.config.model_type,
                "export_form": "edge" if edge_form else "hf", "task": spec.task},
        make_inputs=make_inputs,
        labels=spec.labels,
        task_config={**spec.task_config, "task": spec.task},
        output_masks={name: graph.output_mask for name in graph.outputs} if graph.output_mask else {},
        label_outputs=list(graph.outputs),
    )
