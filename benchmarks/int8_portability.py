"""Do bundles give the same results on an AVX2-only CPU as on this one? (docs/export_performance.md)

    python benchmarks/int8_portability.py --bundles B1 B2 ... --data cs_pud-dev.conllu [--cpu EPYC-Rome]

Each bundle runs twice in a fresh process through ``edge_time.runtime`` (the device-side code, no
torch): on this host, and under ``qemu-x86_64-static -cpu CPU`` (default EPYC-Rome: Zen 2, AVX2
without AVX-512 or VNNI; Debian's qemu-user-static), so onnxruntime / XNNPACK pick the int8
kernels of that CPU. UD bundles parse ``--data`` and both runs are scored against its gold trees
(CoNLL 2018 UPOS / Lemmas / LAS); other bundles embed its sentences and the cosine between the
two runs' outputs is printed. Speed under emulation means nothing and is not reported.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

WORKER = """
import json, sys
import numpy as np
from dataclasses import asdict
from edge_time.runtime import load_bundle
from edge_time.runtime.predict import TaskPredictor
bundle = load_bundle(sys.argv[1], threads=1)
sentences = json.load(open(sys.argv[2], encoding="utf-8"))
if bundle.manifest.task == "ud":
    parses = TaskPredictor.from_bundle(bundle).parse(sentences)
    json.dump([asdict(p) for p in parses], open(sys.argv[3], "w", encoding="utf-8"), ensure_ascii=False)
else:
    outputs = [bundle([" ".join(words)]) for words in sentences]
    name = bundle.manifest.outputs[0].name
    np.save(sys.argv[3] + ".npy", np.concatenate([o[name][0].ravel() for o in outputs]))
"""


def run_worker(bundle: Path, sentences: Path, out: Path, qemu: str | None, cpu: str) -> None:
    command = [sys.executable, "-c", WORKER, str(bundle), str(sentences), str(out)]
    if qemu:
        command = [qemu, "-cpu", cpu] + command
    subprocess.run(command, check=True, timeout=3600)


def ud_scores(gold, parses) -> dict[str, float]:
    from edge_time.runtime.predict import UDParse
    from edge_time.tasks import metrics
    from edge_time.tasks.data import UDTask

    task = UDTask()
    predicted = task.apply(gold, [UDParse(**p) for p in parses])
    report = metrics.ud_report(metrics.ud_scores(gold, predicted))
    return {name: report[name] for name in ("UPOS", "Lemmas", "LAS")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundles", type=Path, nargs="+", required=True)
    parser.add_argument("--data", type=Path, required=True, help="CoNLL-U with gold trees (e.g. cs_pud-dev.conllu)")
    parser.add_argument("--cpu", default="EPYC-Rome", help="qemu CPU model to emulate [default: EPYC-Rome]")
    args = parser.parse_args()
    qemu = shutil.which("qemu-x86_64-static") or shutil.which("qemu-x86_64")
    if qemu is None:
        sys.exit("int8_portability: qemu-x86_64-static not found; apt-get install qemu-user-static")
    from edge_time.compute import cpu_description
    from edge_time.tasks.formats import read_conllu

    gold = read_conllu(args.data)
    print(f"host: {cpu_description()}; emulated: qemu -cpu {args.cpu}")
    print("| bundle | run | UPOS | Lemmas | LAS | same parses / cosine |")
    print("|---|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        sentences = tmp / "sentences.json"
        sentences.write_text(json.dumps([s.forms for s in gold], ensure_ascii=False), encoding="utf-8")
        for bundle in args.bundles:
            host, emulated = tmp / f"{bundle.name}.host", tmp / f"{bundle.name}.emulated"
            run_worker(bundle, sentences, host, None, args.cpu)
            run_worker(bundle, sentences, emulated, qemu, args.cpu)
            if host.exists():  # a UD bundle: parses
                runs = {name: json.loads(path.read_text(encoding="utf-8")) for name, path in
                        (("host", host), (f"{args.cpu} (emulated)", emulated))}
                same = sum(a == b for a, b in zip(*runs.values())) / len(gold)
                for name, parses in runs.items():
                    scores = ud_scores(gold, parses)
                    print(f"| {bundle.name} | {name} | {scores['UPOS']:.2f} | {scores['Lemmas']:.2f} | "
                          f"{scores['LAS']:.2f} | {100 * same:.1f}% |")
            else:
                a, b = np.load(f"{host}.npy"), np.load(f"{emulated}.npy")
                cosine = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
                print(f"| {bundle.name} | host vs {args.cpu} | | | | {cosine:.5f} |")


if __name__ == "__main__":
    main()
