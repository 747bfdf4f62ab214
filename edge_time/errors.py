"""The one exception type the CLI turns into a one-line error and a non-zero exit.

Raise a subclass with a message that names the problem and the fix; everything else is a bug
and keeps its traceback.
"""


class EdgeTimeError(ValueError):
    """User-facing error: bad input, missing file, unsupported option. One line, names the fix."""
