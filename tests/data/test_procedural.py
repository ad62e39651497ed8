"""Procedural arithmetic: computed derivations, no eval, the benchmark entry."""

from __future__ import annotations

from pathlib import Path

import pytest

from abel.data import registry
from abel.data.procedural import ExpressionError, chain_sum_rows, steps


def test_steps_read_left_to_right() -> None:
    assert steps("4 - 1 + 7") == (["4 - 1 = 3", "3 + 7 = 10"], 10)
    assert steps("-3 - 8 - 9") == (["-3 - 8 = -11", "-11 - 9 = -20"], -20)
    assert steps("5 - 9") == (["5 - 9 = -4"], -4)


@pytest.mark.parametrize("bad", ["", "4", "4 * 2", "4 + ", "__import__('os').system('true')", "2 + 3; 1"])
def test_anything_but_integer_plus_minus_is_refused(bad: str) -> None:
    with pytest.raises(ExpressionError):
        steps(bad)


def test_chain_sum_rows_agree_with_reasoning_gym_and_are_seeded() -> None:
    rows = list(chain_sum_rows(seed=3, size=200, min_terms=2, max_terms=4))
    assert rows == list(chain_sum_rows(seed=3, size=200, min_terms=2, max_terms=4))
    assert {r["terms"] for r in rows} == {2, 3, 4}
    for r in rows:  # the rationale's last line ends in the answer reasoning-gym gave
        assert r["rationale"].splitlines()[-1].endswith(f"= {r['answer']}")
        assert len(r["rationale"].splitlines()) == r["terms"] - 1


def test_chain_sum_benchmark_needs_no_data_dir(tmp_path: Path) -> None:
    items = registry.load("chain_sum", tmp_path / "nowhere", limit=50, seed=0)
    assert len(items) == 50 and items == registry.load("chain_sum", tmp_path, limit=50, seed=0)
    assert all(i.kind == "numeric" and i.question.startswith("Compute ") and i.tags["terms"] in (2, 3, 4) for i in items)


def test_benchmark_entry_needs_one_source(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="either 'file'"):
        registry.Benchmark.model_validate({"name": "x", "description": "d", "question": "{q}",
                                           "gold": {"field": "a", "extract": "field"}, "kind": "numeric"})
