"""Progress bars redirected to a log file: whole lines at a timed interval, not carriage-return redraws."""

from __future__ import annotations

import io
import sys

import edge_time.progress as progress


def test_redirected_bar_writes_timed_lines_with_an_eta(monkeypatch):
    log = io.StringIO()  # not a terminal, like `cmd 2> run.log`
    monkeypatch.setattr(sys, "stderr", log)
    monkeypatch.setattr(progress, "LOG_INTERVAL_S", 3600.0)
    bar = progress.step_bar(1000, "finetune ud", True, unit="step")
    for step in range(1000):
        bar.update(1)
        bar.set_postfix(loss=f"{1 / (step + 1):.3f}")  # every step, as the training loops do
    bar.close()
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue()
    assert 2 <= len(lines) <= 3, lines  # the opening line, the final one (and at most one refresh between)
    assert lines[0].startswith("finetune ud:   0%") and lines[-1].startswith("finetune ud: 100%"), lines
    assert "1000/1000" in lines[-1] and "step/s" in lines[-1]


def test_disabled_bar_writes_nothing(monkeypatch):
    log = io.StringIO()
    monkeypatch.setattr(sys, "stderr", log)
    bar = progress.step_bar(10, "distilling", False)
    bar.update(10)
    bar.close()
    assert log.getvalue() == ""
