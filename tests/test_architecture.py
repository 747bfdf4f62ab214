"""The dependency rules of docs/design.md, checked on the source and in a fresh interpreter."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "edge_time"

FORBIDDEN = {
    # device side: no training code, no torch/transformers at module level or anywhere
    "runtime": ("torch", "transformers", "edge_time.distill", "edge_time.tasks", "edge_time.exporters",
                "edge_time.modeling", "edge_time.cli", "edge_time.profiler"),
    "exporters": ("edge_time.cli",),
    "profiler": ("edge_time.cli", "edge_time.distill", "edge_time.tasks", "edge_time.exporters"),
    "distill": ("edge_time.tasks", "edge_time.cli"),
    "tasks": ("edge_time.distill", "edge_time.cli"),
    # modeling is shared by distill, tasks and exporters: it imports none of them
    "modeling": ("edge_time.cli", "edge_time.distill", "edge_time.tasks", "edge_time.exporters"),
    "bench": ("edge_time.cli", "edge_time.distill", "edge_time.exporters"),
    "quickstart": ("edge_time.cli",),
}
MAX_LINES = 512  # a module longer than this is split along its seams (docs/design.md)


def imports_of(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("room", sorted(FORBIDDEN))
def test_room_imports_respect_the_rules(room):
    broken = []
    for path in sorted((PACKAGE / room).rglob("*.py")):
        for name in imports_of(path):
            for banned in FORBIDDEN[room]:
                if name == banned or name.startswith(banned + "."):
                    if room == "runtime" and banned == "torch" and path.name == "backends.py":
                        continue  # ExecuTorch's own Python runtime takes torch tensors (lazy import)
                    broken.append(f"{path.relative_to(PACKAGE.parent)} imports {name}")
    assert not broken, "\n".join(broken)


def test_no_module_is_over_the_line_limit():
    long = [f"{path.relative_to(PACKAGE.parent)}: {n} lines" for path in sorted(PACKAGE.rglob("*.py"))
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES]
    assert not long, f"split these along their seams (at most {MAX_LINES} lines):\n" + "\n".join(long)


def test_runtime_loads_without_torch_or_transformers():
    code = ("import sys, edge_time.runtime, edge_time.runtime.predict, edge_time.runtime.decode;"
            "bad = [m for m in ('torch', 'transformers') if m in sys.modules]; print(bad); sys.exit(bool(bad))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
