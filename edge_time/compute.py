"""What the machine can compute fast: the device, and whether bf16 autocast is native there.

torch is imported inside the functions: the CLI imports this module for its choices.

Training recipes (distillation, fine-tuning) ask here instead of each probing the hardware.
bf16 pays only where the hardware multiplies bf16 natively (CUDA; x86 with AVX512-BF16 or AMX;
aarch64 with the BF16 extension); elsewhere PyTorch emulates it and it is slower than fp32, so
``precision="auto"`` picks fp32 there.
"""

from __future__ import annotations

import platform
from pathlib import Path

from edge_time.errors import EdgeTimeError

PRECISIONS = ("auto", "fp32", "bf16")


def device_kind() -> str:
    """'gpu' when CUDA is usable, else 'cpu'."""
    import torch

    return "gpu" if torch.cuda.is_available() else "cpu"


def cpu_has_native_bf16() -> bool:
    """True when this CPU multiplies bf16 in hardware (x86 AVX512-BF16/AMX, ARM BF16)."""
    import torch

    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64"):
        probes = (getattr(torch.cpu, "_is_avx512_bf16_supported", None), getattr(torch.cpu, "_is_amx_tile_supported", None))
        return any(probe is not None and probe() for probe in probes)
    if machine in ("aarch64", "arm64"):
        try:
            features = Path("/proc/cpuinfo").read_text()
        except OSError:
            return False
        return any(line.startswith("Features") and " bf16" in f" {line.split(':', 1)[-1]} "
                   for line in features.splitlines())
    return False


INT8_FEATURES = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8", "asimddp", "i8mm")  # x86 / aarch64


def cpu_description(cpuinfo: str | None = None) -> dict[str, object]:
    """This CPU's model and the flags that decide which int8 kernels run (recorded where int8 or speed is
    measured). ``family`` identifies the core where a VM shows only a generic name ("AMD EPYC", "Intel(R)
    Xeon(R) Processor"): x86 "family 26 model 2" (26 = Zen 5), aarch64 "implementer 0x41 part 0xd0c".
    ``cpuinfo``: the text of /proc/cpuinfo (read when None)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = ""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())  # the first processor's entry
    flags = set((fields.get("flags") or fields.get("Features") or "").split())
    model = fields.get("model name") or fields.get("Model") or platform.processor() or platform.machine()
    if "cpu family" in fields:
        family = f"family {fields['cpu family']} model {fields.get('model', '?')}"
    elif "CPU part" in fields:
        family = f"implementer {fields.get('CPU implementer', '?')} part {fields['CPU part']}"
    else:
        family = None
    return {"machine": platform.machine(), "model": model, "family": family,
            "int8_features": [f for f in INT8_FEATURES if f in flags]}


def cpu_summary(description: dict[str, object]) -> str:
    """One line for reports: 'AMD EPYC (family 26 model 2; int8: avx2 avx512f avx512_vnni avx_vnni)'."""
    details = [str(description["family"])] if description.get("family") else []
    details.append("int8: " + (" ".join(description["int8_features"]) or "no SIMD int8 features"))
    return f"{description['model']} ({'; '.join(details)})"


def resolve_precision(precision: str, device: str | None = None) -> str:
    """'auto' -> 'bf16' on CUDA and on CPUs with native bf16, else 'fp32'; explicit 'bf16' needs support."""
    if precision not in PRECISIONS:
        raise EdgeTimeError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    device = device or device_kind()
    native = device == "gpu" or cpu_has_native_bf16()
    if precision == "auto":
        return "bf16" if native else "fp32"
    if precision == "bf16" and not native:
        raise EdgeTimeError("--precision bf16: this CPU has no native bf16 (AVX512-BF16, AMX or ARM BF16), so "
                            "bf16 would be emulated and slower; use --precision fp32 (or auto)")
    return precision


def autocast(precision: str, device: str | None = None):
    """A bf16 autocast context for ``precision='bf16'``, a no-op context for fp32."""
    import torch

    device = device or device_kind()
    return torch.autocast("cuda" if device == "gpu" else "cpu", dtype=torch.bfloat16,
                          enabled=precision == "bf16")
