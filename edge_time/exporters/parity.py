"""Parity: the exported file, run in its real runtime, against PyTorch eager on the same inputs.

Compared on real positions only (padding is masked out): max abs diff and cosine of the flattened
outputs per case, and for label outputs the share of positions whose argmax label is identical.
Label agreement is judged over the positions of all cases together: the batch-1 case holds the
shortest sample (a few words), where one borderline word flipping under int8 would read as 50%.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from edge_time.modeling.spec import ExportSpec


def _masked(array: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """Rows of ``array`` at real positions: (n_real, *rest), or everything flattened per row."""
    if mask is None:
        return array.reshape(array.shape[0], -1) if array.ndim > 1 else array[:, None]
    keep = mask.astype(bool)
    return array[keep] if array.ndim > 2 else array[keep][:, None]


def compare(reference: np.ndarray, exported: np.ndarray, mask: np.ndarray | None, labels: bool) -> dict:
    ref, out = _masked(reference.astype(np.float64), mask), _masked(exported.astype(np.float64), mask)
    if ref.shape != out.shape:
        return {"shape_mismatch": [list(reference.shape), list(exported.shape)], "cosine": 0.0,
                "max_abs_diff": float("inf")}
    denom = float(np.linalg.norm(ref) * np.linalg.norm(out))
    result = {
        "max_abs_diff": float(np.max(np.abs(ref - out))) if ref.size else 0.0,
        "cosine": float(np.sum(ref * out) / denom) if denom > 0 else float(np.allclose(ref, out)),
    }
    if labels:
        same = np.argmax(ref, -1) == np.argmax(out, -1)
        result["label_agreement"] = float(np.mean(same)) if same.size else 1.0
        result["label_positions"], result["label_matches"] = int(same.size), int(same.sum())
    return result


def parity_cases(spec: ExportSpec, texts: list[str], fixed_lengths: list[int]) -> list[tuple[str, list[str], int | None]]:
    """(case name, texts, seq_len) triples: a full batch and a single short text per shape."""
    if not fixed_lengths:
        shortest = min(texts, key=len)
        return [(f"batch{len(texts)}-dynamic", texts, None), ("batch1-dynamic", [shortest], None)]
    encoder = spec.text_encoder()
    cases = []
    for length in fixed_lengths:
        fitting = [t for t in texts if encoder.count_tokens(t) <= length]
        if fitting:
            cases.append((f"batch{len(fitting)}-seq{length}", fitting, length))
    return cases


def run_parity(spec: ExportSpec, run: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]],
               texts: list[str], fixed_lengths: list[int], thresholds: tuple[float, float, float]) -> dict:
    """Parity report over all cases; ``passed`` is False when any output misses a threshold."""
    min_cos, max_diff, min_agree = thresholds
    report: dict = {"thresholds": {"min_cosine": min_cos, "max_abs_diff": max_diff, "min_label_agreement": min_agree},
                    "cases": {}, "label_agreement": {}, "passed": True, "failures": []}
    label_counts: dict[str, list[int]] = {}  # output -> [matches, positions] over all cases
    for case, case_texts, seq_len in parity_cases(spec, texts, fixed_lengths):
        inputs = spec.make_inputs(case_texts, seq_len)
        with torch.inference_mode():
            reference = spec.module(*(inputs[n] for n in spec.input_names))
        arrays = {name: tensor.numpy() for name, tensor in inputs.items()}
        exported = run(arrays)
        case_report = {}
        for name, ref in zip(spec.output_names, reference):
            mask_name = spec.output_masks.get(name)
            mask = arrays[mask_name] if mask_name else None
            metrics = compare(ref.float().numpy(), np.asarray(exported[name]), mask, name in spec.label_outputs)
            case_report[name] = metrics
            problems = []
            if metrics["cosine"] < min_cos:
                problems.append(f"cosine {metrics['cosine']:.5f} < {min_cos}")
            if metrics["max_abs_diff"] > max_diff:
                problems.append(f"max abs diff {metrics['max_abs_diff']:.3g} > {max_diff}")
            if "label_positions" in metrics:
                counts = label_counts.setdefault(name, [0, 0])
                counts[0] += metrics["label_matches"]
                counts[1] += metrics["label_positions"]
            if problems:
                report["passed"] = False
                report["failures"].append(f"{case}/{name}: " + ", ".join(problems))
        report["cases"][case] = case_report
    for name, (matches, positions) in label_counts.items():
        agreement = matches / positions if positions else 1.0
        report["label_agreement"][name] = {"agreement": agreement, "matches": matches, "positions": positions}
        if agreement < min_agree:
            report["passed"] = False
            report["failures"].append(f"all cases/{name}: label agreement {agreement:.3f} ({matches}/{positions} "
                                      f"positions) < {min_agree}")
    worst = [m for c in report["cases"].values() for m in c.values()]
    report["summary"] = {
        "min_cosine": min((m["cosine"] for m in worst), default=1.0),
        "max_abs_diff": max((m["max_abs_diff"] for m in worst), default=0.0),
        "min_label_agreement": min((a["agreement"] for a in report["label_agreement"].values()), default=None),
    }
    return report


def format_report(report: dict) -> str:
    lines = []
    for case, outputs in report["cases"].items():
        for name, m in outputs.items():
            agree = f"  labels {m['label_agreement']:.3f}" if "label_agreement" in m else ""
            lines.append(f"  {case:<22} {name:<20} cosine {m['cosine']:.6f}  max|diff| {m['max_abs_diff']:.3g}{agree}")
    for name, a in report.get("label_agreement", {}).items():
        lines.append(f"  {'all cases':<22} {name:<20} labels {a['agreement']:.3f} ({a['matches']}/{a['positions']})")
    verdict = "PASSED" if report["passed"] else "FAILED: " + "; ".join(report["failures"])
    return "parity " + verdict + "\n" + "\n".join(lines)
