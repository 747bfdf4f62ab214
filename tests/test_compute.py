"""The CPU identity recorded beside every int8 check and speed figure (edge_time.compute.cpu_description)."""

from __future__ import annotations

from edge_time.compute import cpu_description, cpu_summary

ZEN5_VM = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 26
model\t\t: 2
model name\t: AMD EPYC
flags\t\t: fpu sse2 avx avx2 fma avx512f avx512bw avx512_vnni avx_vnni avx512_bf16

processor\t: 1
cpu family\t: 99
model name\t: not the first processor
"""

NEOVERSE = """processor\t: 0
BogoMIPS\t: 50.00
Features\t: fp asimd aes asimddp sve i8mm bf16
CPU implementer\t: 0x41
CPU part\t: 0xd4f
"""


def test_cpu_description_names_the_core_behind_a_generic_vm_name_and_its_int8_features():
    zen5 = cpu_description(ZEN5_VM)
    assert (zen5["model"], zen5["family"]) == ("AMD EPYC", "family 26 model 2")  # the first processor's entry
    assert zen5["int8_features"] == ["avx2", "avx512f", "avx512_vnni", "avx_vnni"]
    assert cpu_summary(zen5) == "AMD EPYC (family 26 model 2; int8: avx2 avx512f avx512_vnni avx_vnni)"

    arm = cpu_description(NEOVERSE)
    assert arm["family"] == "implementer 0x41 part 0xd4f" and arm["int8_features"] == ["asimddp", "i8mm"]


def test_cpu_description_without_cpuinfo_still_gives_a_summary():
    bare = cpu_description("")
    assert bare["family"] is None and bare["int8_features"] == []
    assert cpu_summary(bare).endswith("(int8: no SIMD int8 features)")
