"""`edge-time quickstart`: being written."""

COMMANDS: list = []
