"""`edge-time bench`: being written."""

COMMANDS: list = []
