"""Plot the distillation loss curves of several student folders in one figure (teacher vs random init).

    python benchmarks/plot_init_curves.py --out init_curves.png student_s_teacher student_s_random

Reads each folder's metrics.jsonl (train loss per logged step, validation loss per checkpoint)
and distill_config.json (init, size); prints a Markdown table of the validation losses.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def read_run(folder: Path) -> tuple[str, list[dict], list[dict]]:
    info = json.loads((folder / "distill_config.json").read_text())
    size = info["config"].get("size") or "custom"
    records = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines() if line.strip()]
    label = f"{size} / {info.get('init', 'random')} init"
    return label, [r for r in records if "loss" in r], [r for r in records if "valid_loss" in r]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="distillation output folders")
    parser.add_argument("--out", type=Path, required=True, help="PNG to write")
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    rows = ["| student | validation loss (step: loss) |", "|---|---|"]
    for folder in args.runs:
        label, train, valid = read_run(folder)
        line, = ax.plot([r["step"] for r in train], [r["loss"] for r in train], alpha=0.5, label=f"{label} (train)")
        ax.plot([r["step"] for r in valid], [r["valid_loss"] for r in valid], "o-", color=line.get_color(),
                label=f"{label} (validation)")
        rows.append(f"| {label} | " + ", ".join(f"{r['step']}: {r['valid_loss']:.3f}" for r in valid) + " |")
    ax.set_xlabel("distillation step")
    ax.set_ylabel("relation loss (KL)")
    ax.set_yscale("log")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.out)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
