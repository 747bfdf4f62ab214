"""edge-time: tiny monolingual encoders (TiME), fine-tuned, exported and profiled on devices."""

__version__ = "0.1.0"
