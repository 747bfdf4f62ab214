"""The model card (README.md) of a distilled student, with its loss curve (table + PNG)."""

from __future__ import annotations

import json
from pathlib import Path

from edge_time.atomic import write_text_atomic


def read_metrics(path: Path) -> tuple[list[dict], list[dict]]:
    train, valid = [], []
    if path.is_file():
        for line in path.read_text().splitlines():
            if line.strip():
                record = json.loads(line)
                (valid if "valid_loss" in record else train).append(record)
    return train, valid


def plot_loss(train: list[dict], valid: list[dict], path: Path) -> bool:
    """loss_curve.png; False when matplotlib is missing or there is nothing to plot."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    if not train:
        return False
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.plot([r["step"] for r in train], [r["loss"] for r in train], label="train")
    if valid:
        ax.plot([r["step"] for r in valid], [r["valid_loss"] for r in valid], "o-", label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel("relation loss")
    ax.set_yscale("log")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def _loss_table(train: list[dict], valid: list[dict], rows: int = 12) -> str:
    valid_at = {r["step"]: r["valid_loss"] for r in valid}
    picked = {train[round(i * (len(train) - 1) / max(1, rows - 1))]["step"] for i in range(min(rows, len(train)))}
    steps = sorted(picked | set(valid_at))
    train_at = {r["step"]: r["loss"] for r in train}
    lines = ["| step | train loss | validation loss |", "|---:|---:|---:|"]
    for step in steps:
        t = f"{train_at[step]:.4f}" if step in train_at else ""
        v = f"{valid_at[step]:.4f}" if step in valid_at else ""
        lines.append(f"| {step} | {t} | {v} |")
    return "\n".join(lines)


def write_card(out: Path, info: dict, state: dict) -> None:
    config, size, data = info["config"], info["student_size"], info["data"]
    train, valid = read_metrics(out / "metrics.jsonl")
    has_png = plot_loss(train, valid, out / "loss_curve.png")
    best = state.get("best_valid")
    text = f"""---
library_name: transformers
tags: [edge-time, distillation, minilmv2, time]
---
# Distilled student of `{Path(info['teacher_dir']).name}`

A BERT student distilled with edge-time by MiniLMv2 self-attention relation
distillation (the TiME recipe). Load it with `AutoModel.from_pretrained` / `AutoTokenizer.from_pretrained`;
fine-tune it (`edge-time finetune`) before use: the last block's attention output and FFN are not
trained by relation distillation.

| | |
|---|---|
| teacher | `{config['teacher']}` ({info['teacher_type']}), layer {info['teacher_layer']} |
| student | hidden {size['hidden']}, {size['layers']} layers, {size['heads']} heads, FFN {size['ffn']} (`{config['size'] or 'custom'}`) |
| init | {info.get('init', 'random')}: {info.get('init_note', '')} |
| relations | {', '.join(info['relations'])}, {info['relation_heads']} relation heads; hidden-state loss weight {config.get('hidden_loss', 0)} |
| corpus | {', '.join(str(c) for c in config['corpus'])} ({data['documents']} documents, {data['train_tokens']} training tokens) |
| vocabulary | {data['teacher_vocab']} -> {data['student_vocab']} entries ({data['tokenizer_model']}, token coverage {data['token_coverage']:.4%}) |
| parameters | {info['student_params']:,} (untrimmed vocabulary: {info['student_params_untrimmed']:,}) |
| embedding parameters | {info['embedding_params']:,} (untrimmed: {info['embedding_params_untrimmed']:,}) |
| steps x batch | {config['max_steps']} x {config['batch_size']}, max length {config['max_length']}, lr {config['lr']}, {info.get('precision', 'fp32')} |
| best validation loss | {f'{best:.4f} at step {state.get("best_step")}' if best is not None else 'n/a (no validation text)'} |

## Loss curve

{'![loss curve](loss_curve.png)' if has_png else ''}

{_loss_table(train, valid) if train else 'no training steps logged'}
"""
    write_text_atomic(out / "README.md", text)
