"""Makes tests/ importable (tests/builders.py holds the shared tiny-model builders)."""
