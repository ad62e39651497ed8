"""Abel reproduction: SFT-only math reasoning, from data curation to the paper's figures."""

__version__ = "0.1.0"
