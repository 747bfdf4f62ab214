"""Relation-loss step (forward + backward) time and peak memory: chunked fp32 vs the direct form.

    python benchmarks/distill_step.py --out distill_step.md
    python benchmarks/distill_step.py --device cuda --relation-heads 64 --teacher-hidden 1024 --out gpu.md

Both variants get the same random teacher/student Q/K/V (batch x seq x hidden, 10% padding in
half of the rows) and compute QQ+KK+VV. Peak memory: each (variant, seq) runs once in a fresh
subprocess, measured as that process's ``ru_maxrss`` growth over its inputs (on CUDA:
``max_memory_allocated`` over the inputs). Time: one process alternates the two variants for
``--repeats`` rounds after a warm-up and reports medians, so a shared machine's load hits both alike.
Writes a Markdown section (stdout, and ``--out`` when given).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time


def make_step(args, variant: str, seq: int):
    """A closure running one forward + backward of ``variant`` on fixed random inputs."""
    import torch

    from edge_time.distill.loss import reference_relation_loss, relation_loss

    torch.manual_seed(0)
    device = torch.device(args.device)
    b = args.batch
    student = {k: torch.randn(b, seq, args.student_hidden, device=device, requires_grad=True) for k in "qkv"}
    teacher = {k: torch.randn(b, seq, args.teacher_hidden, device=device) for k in "qkv"}
    mask = torch.ones(b, seq, dtype=torch.long, device=device)
    mask[: b // 2, int(0.9 * seq):] = 0
    loss_fn = relation_loss if variant == "chunked" else reference_relation_loss

    def step() -> float:
        loss = loss_fn(student, teacher, mask, args.relation_heads)
        loss.backward()
        for x in student.values():
            x.grad = None
        if device.type == "cuda":
            torch.cuda.synchronize()
        return float(loss.detach())

    return step


def memory_case(args) -> dict:
    """Peak memory of one step, in a fresh process (called through ``--case``)."""
    import torch

    device = torch.device(args.device)
    step = make_step(args, args.variant, args.seq)

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    loss = step()
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated() - base
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    return {"loss": loss, "peak_bytes": peak}


def time_cases(args, seq: int) -> dict[str, float]:
    """Median seconds per step of both variants, interleaved in this process."""
    steps = {variant: make_step(args, variant, seq) for variant in ("reference", "chunked")}
    for step in steps.values():
        step()  # warm-up
    times = {variant: [] for variant in steps}
    for _ in range(args.repeats):
        for variant, step in steps.items():
            start = time.perf_counter()
            step()
            times[variant].append(time.perf_counter() - start)
    return {variant: statistics.median(values) for variant, values in times.items()}


def memory_of(args, variant: str, seq: int) -> dict:
    cmd = [sys.executable, __file__, "--case", "--variant", variant, "--seq", str(seq)]
    for name in ("batch", "teacher_hidden", "student_hidden", "relation_heads", "device"):
        cmd += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seqs", default="128,512")
    parser.add_argument("--teacher-hidden", type=int, default=384)
    parser.add_argument("--student-hidden", type=int, default=384)
    parser.add_argument("--relation-heads", type=int, default=12)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", help="also write the Markdown section to this file")
    parser.add_argument("--case", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    parser.add_argument("--seq", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(memory_case(args)))
        return

    import torch

    rows = []
    for seq in [int(x) for x in args.seqs.split(",")]:
        ref, chunked = memory_of(args, "reference", seq), memory_of(args, "chunked", seq)
        medians = time_cases(args, seq)
        ref["median_s"], chunked["median_s"] = medians["reference"], medians["chunked"]
        rows.append((seq, ref, chunked))
    mib = 1 / (1 << 20)
    device = torch.cuda.get_device_name() if args.device == "cuda" else f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"
    lines = [
        "## Distillation: relation loss step (forward + backward)",
        "",
        f"Command: `python benchmarks/distill_step.py --batch {args.batch} --seqs {args.seqs} --teacher-hidden "
        f"{args.teacher_hidden} --student-hidden {args.student_hidden} --relation-heads {args.relation_heads} "
        f"--device {args.device} --repeats {args.repeats}`  ",
        f"Machine: {device}; torch {torch.__version__}. QQ+KK+VV, batch {args.batch}, median of {args.repeats} "
        f"interleaved rounds.",
        "",
        "| seq | direct: time (ms) | chunked: time (ms) | time ratio | direct: peak (MiB) | chunked: peak (MiB) "
        "| peak ratio | loss rel. diff |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for seq, ref, ch in rows:
        lines.append(f"| {seq} | {ref['median_s'] * 1e3:.1f} | {ch['median_s'] * 1e3:.1f} | "
                     f"{ch['median_s'] / ref['median_s']:.2f} | {ref['peak_bytes'] * mib:.0f} | "
                     f"{ch['peak_bytes'] * mib:.0f} | {ch['peak_bytes'] / max(ref['peak_bytes'], 1):.2f} | "
                     f"{abs(ch['loss'] - ref['loss']) / abs(ref['loss']):.1e} |")
    lines.append("")
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(text + "\n")


if __name__ == "__main__":
    main()
