"""Answer extraction, normalization and equivalence for GSM8K-, MATH- and multiple-choice answers.

Two modes:
- ``abel``: bit-compatible with the scorer behind the Abel paper's numbers (``legacy.py``).
- ``strict``: the default; fixes what the abel scorer misreads (``strict.py``).

Nothing here imports torch, and sympy / math-verify are imported only inside worker processes,
so ``abel score`` starts fast. Model output is untrusted: it is parsed, never evaluated.
"""

from abel.scoring.runner import ScoreSummary, score_rows

__all__ = ["ScoreSummary", "score_rows"]
