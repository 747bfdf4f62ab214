"""The aarch64 check's ``--remote-python`` wrapper (benchmarks/arm_profile.py): the runner's
arguments and the ARM_ROOT path reach ``arm_check.sh python`` intact, whatever they hold."""

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from arm_profile import wrapper_script  # noqa: E402


def test_wrapper_passes_paths_and_arguments_verbatim(tmp_path):
    folder = tmp_path / "it's a $(touch INJECTED) dir"
    folder.mkdir()
    # stands in for arm_check.sh (whose `python` needs the aarch64 sysroot): prints what it got
    check = folder / "arm_check.sh"
    check.write_text('printf "%s\\n" "ARM_ROOT=$ARM_ROOT" "$@"\n')
    wrapper = folder / "python-aarch64"
    wrapper.write_text(wrapper_script(check, folder / "root; rm -rf ~"))
    wrapper.chmod(0o755)
    args = ["runner.py", "--bundle", "a b'c", "$HOME", "`id`"]
    out = subprocess.run([str(wrapper), *args], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out == [f"ARM_ROOT={folder / 'root; rm -rf ~'}", "python", *args]
    assert not list(tmp_path.rglob("INJECTED"))
