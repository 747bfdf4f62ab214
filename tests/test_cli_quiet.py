"""The CLI keeps the toolchain's own deprecation chatter out of the terminal unless -v is given."""

import subprocess
import sys

# run a command that fails fast, then emit what the toolchain emits (a FutureWarning, a torchao
# logger warning) and a warning of edge-time's own, which must always show
CHATTER = """
import logging, sys, warnings
from edge_time.cli import main
try:
    main(sys.argv[1:], standalone_mode=False)
except SystemExit:
    pass
warnings.warn("treespec LeafSpec is deprecated", FutureWarning)
logging.getLogger("torchao").warning("Failed to load _C_mxfp8.so")
logging.getLogger("edge_time.mine").warning("a warning of edge-time's own")
print("OUT", flush=True)
"""


def run(*args: str) -> str:
    done = subprocess.run([sys.executable, "-c", CHATTER, *args, "inspect", "no-such-bundle"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "OUT" in done.stdout
    return done.stderr


def test_toolchain_warnings_are_hidden_by_default_and_shown_with_verbose():
    quiet = run()
    assert "LeafSpec" not in quiet and "_C_mxfp8" not in quiet
    assert "a warning of edge-time's own" in quiet
    loud = run("-v")
    assert "LeafSpec" in loud and "_C_mxfp8" in loud
