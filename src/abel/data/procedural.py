"""Procedural arithmetic from reasoning-gym, with derivations computed step by step.

``chain_sum`` gives expressions like ``4 - 1 + 7`` and their answers. The step-by-step rationale
(``4 - 1 = 3`` / ``3 + 7 = 10``) is computed here by reading the expression left to right. Nothing
is ``eval``-ed, and reasoning-gym's answer is checked against the computed one.

The same generator serves two roles, with different seeds:
- a training source for curation (``curate.sources.chain_sum``), seeded by ``curate.seed``;
- a held-out benchmark (``data/benchmarks/chain_sum.yaml``) with its own fixed seed. Curation's exact-match
  decontamination removes training questions that also appear in the benchmark.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

_TERM = re.compile(r"\s*([+-])\s*(\d+)")
_FIRST = re.compile(r"\s*(-?\d+)")


class ExpressionError(ValueError):
    pass


def steps(expression: str) -> tuple[list[str], int]:
    """The lines ``a op b = c`` that evaluate ``expression`` left to right, and its value.

    Only integers joined by ``+`` and ``-`` are accepted. Anything else raises ExpressionError.
    """
    first = _FIRST.match(expression)
    if not first:
        raise ExpressionError(f"expression {expression!r} does not start with an integer")
    value, pos, lines = int(first.group(1)), first.end(), []
    while pos < len(expression.rstrip()):
        term = _TERM.match(expression, pos)
        if not term:
            raise ExpressionError(f"expression {expression!r}: cannot read a '+ n' or '- n' term at {pos}")
        op, operand = term.group(1), int(term.group(2))
        new = value + operand if op == "+" else value - operand
        lines.append(f"{value} {op} {operand} = {new}")
        value, pos = new, term.end()
    if not lines:
        raise ExpressionError(f"expression {expression!r} has no operation")
    return lines, value


def chain_sum_rows(seed: int, size: int, min_terms: int = 2, max_terms: int = 4,
                   min_digits: int = 1, max_digits: int = 1) -> Iterator[dict[str, Any]]:
    """Rows ``{question, expression, rationale, answer, terms}`` from reasoning-gym's chain_sum."""
    import reasoning_gym

    data = reasoning_gym.create_dataset("chain_sum", seed=seed, size=size, min_terms=min_terms,
                                        max_terms=max_terms, min_digits=min_digits, max_digits=max_digits)
    for raw in data:
        expression = raw["metadata"]["expression"]
        lines, value = steps(expression)
        if str(value) != str(raw["answer"]).strip():
            raise ExpressionError(f"chain_sum {expression!r}: computed {value}, reasoning-gym says {raw['answer']!r}")
        yield {"question": f"Compute {expression}.", "expression": expression, "rationale": "\n".join(lines),
               "answer": str(value), "terms": int(raw["metadata"]["num_terms"])}


def _gsm_perturb(seed: int, size: int, variant: str = "base") -> list[dict[str, Any]]:
    from abel.data.perturb import gsm_perturb_rows

    return gsm_perturb_rows(seed, size, variant)


GENERATORS: dict[str, Callable[..., Iterable[dict[str, Any]]]] = {"chain_sum": chain_sum_rows, "gsm_perturb": _gsm_perturb}
