"""Progress bars for the long training commands, readable on a terminal and in a log file alike."""

from __future__ import annotations

import sys

LOG_INTERVAL_S = 30.0  # a redirected bar refreshes this seldom: an hour-long run leaves ~120 lines, not ~10k


def step_bar(total: int | None, desc: str, enabled: bool, **options):
    """A tqdm bar with a rate and an ETA; written to a log file (stderr not a terminal), one line per refresh.

    tqdm's default redraws ten times a second (and at every ``set_postfix``) with carriage returns,
    which in a log is one unreadable multi-megabyte line.
    """
    from tqdm.auto import tqdm

    if not enabled or sys.stderr.isatty():
        return tqdm(total=total, desc=desc, disable=not enabled, **options)

    class LogBar(tqdm):
        def set_postfix(self, ordered_dict=None, refresh=True, **kwargs):
            super().set_postfix(ordered_dict, refresh=False, **kwargs)  # shown at the next timed refresh

    options = {"mininterval": LOG_INTERVAL_S, "maxinterval": LOG_INTERVAL_S, "ascii": True, **options}
    return LogBar(total=total, desc=desc, file=_LineWriter(sys.stderr), **options)


class _LineWriter:
    """Turns tqdm's carriage-return redraws into whole lines."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text: str) -> None:
        text = text.replace("\r", "").rstrip("\n")
        if text.strip():
            self.stream.write(text + "\n")

    def flush(self) -> None:
        self.stream.flush()
