"""Answer extraction, normalization and equivalence for GSM8K-, MATH- and multiple-choice answers.

Two modes:
- ``abel``: bit-compatible with the scorer behind the Abel paper's numbers (``legacy.py``).
- ``strict``: the default; fixes what the abel scorer misreads (``strict.py``).

Nothing here imports torch, and sympy / math-verify are imported only inside worker processes,
so ``abel score`` starts fast. Model output is untrusted: it is parsed, never evaluated.

The package imports nothing at import time, so modules that only parse answers (``extract``,
``numeric``) do not pull in the graders: ``from abel.scoring.runner import score_rows``.
"""
