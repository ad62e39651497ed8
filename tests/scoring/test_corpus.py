"""The labelled grader-test corpus generator (abel.scoring.corpus): the generator itself, not a grader."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from abel.scoring import corpus

# Kinds the MATH test answers hardly allow: one inequality gold, three golds with \pm.
DATA_LIMITED = {"relation_flip": 3, "pm_dropped": 6}


@pytest.fixture(scope="module")
def math_test(data_dir):
    return data_dir / "math" / "test.jsonl"


@pytest.fixture(scope="module")
def rows(math_corpus):
    return math_corpus


def test_size_kinds_and_balance(rows) -> None:
    assert len(rows) >= 2000
    counts = Counter(r["kind"] for r in rows)
    assert set(counts) == set(corpus.KINDS)
    for kind in corpus.KINDS:
        assert counts[kind] >= DATA_LIMITED.get(kind, 40), (kind, counts[kind])
    share = sum(r["equivalent"] for r in rows) / len(rows)
    assert 0.40 <= share <= 0.60
    assert counts["identity"] <= 0.15 * sum(r["equivalent"] for r in rows)


def test_row_schema(rows) -> None:
    assert len({r["id"] for r in rows}) == len(rows)
    for r in rows:
        assert set(r) == {"id", "source_idx", "gold", "response", "equivalent", "kind", "rewrite"}
        assert r["id"] == f"{r['source_idx']}-{r['kind']}-{r['id'].rsplit('-', 1)[1]}"
        assert r["equivalent"] == (r["kind"] in corpus.EQUIVALENT_KINDS)
        assert r["rewrite"] in r["response"]
        if r["kind"] != "identity":
            assert r["rewrite"] != r["gold"].strip()
        if "\\boxed" not in r["response"]:  # Minerva style: R sits between $...$
            assert "$" not in r["rewrite"] and "\\text" not in r["rewrite"]
    templates = Counter("Final Answer:" in r["response"] or r["response"].startswith("So the answer") for r in rows)
    assert templates[False] > templates[True] > 0  # mostly the boxed "final answer" line


@pytest.mark.slow  # builds three small corpora (~5 s: reading MATH test and the candidates dominate)
def test_deterministic(math_test) -> None:
    a = corpus.build_corpus(math_test, seed=3, size=150)
    b = corpus.build_corpus(math_test, seed=3, size=150)
    assert len(a) >= 150 and a == b
    assert a != corpus.build_corpus(math_test, seed=4, size=150)


R = random.Random


@pytest.mark.parametrize(
    ("kind", "gold", "expected"),
    [
        ("sign_flip", r"\sqrt{3}", [r"-\sqrt{3}"]),
        ("sign_flip", r"-\frac{1}{8}", [r"\frac{1}{8}"]),
        ("sign_flip", "0", []),
        ("sign_flip", "(1,2)", []),
        ("decimal", r"\frac{3}{4}", ["0.75"]),
        ("decimal", "5", ["5.0"]),
        ("decimal", r"\frac{1}{3}", []),
        ("slash_fraction", r"-\frac{1}{8}", ["-1/8"]),
        ("interval_end", r"(2,\infty)", [r"[2,\infty)"]),
        # 2 stays in the union when the first piece is opened at 2: only the other flip is wrong
        ("interval_end", r"(-\infty,2]\cup[2,5]", [r"(-\infty,2]\cup[2,5)"]),
        ("interval_end", "(1,2)", []),  # an ordered pair, not an interval
        ("pm_dropped", r"\pm 2021", ["2021"]),
        ("pm_dropped", r"1 \pm \sqrt{19}", [r"1 + \sqrt{19}", r"1 - \sqrt{19}"]),
        ("reorder_sum", "6+9i", ["9i+6"]),
        ("reorder_sum", "-11 + 27i", ["27i - 11"]),
        ("reorder_sum", "|x-1|+2", []),
        ("reorder_sum", "x^-1+2", []),
        ("tuple_reversed", "(1,2)", ["(2,1)"]),
        ("tuple_reversed", "(1,1)", []),
        ("bare_number", r"7\pi", ["7"]),
        ("bare_number", r"\$40", []),  # money: the bare number may be the intended answer
        ("bare_number", "b=4", []),
        ("variable_renamed", "y+1", ["x+1"]),
        ("variable_renamed", "x=5", ["y=5"]),
        ("variable_renamed", "y = 2x", []),
        ("relation_flip", r"x \le 3", [r"x \ge 3"]),
        ("part_dropped", "1,1,2", []),  # repeated parts: dropping one may leave the same set
        ("part_dropped", r"14,\!400", []),  # one number, not two parts
    ],
)
def test_rewrites(kind, gold, expected) -> None:
    assert corpus.REWRITERS[kind](gold, R(0), "") == expected


def test_rewrites_with_choices() -> None:
    (v,) = corpus.value(r"\frac{3}{4}", R(0))
    k = int(v[len("\\frac{") :].split("}")[0]) // 3
    assert v == f"\\frac{{{3 * k}}}{{{4 * k}}}" and k >= 2
    assert corpus.thousands("1000", R(0)) in (["1,000"], ["1{,}000"])
    assert corpus.thousands(r"14,\!400", R(0)) in (["14400"], ["14{,}400"])
    assert corpus.frac_style(r"\frac{4}{3}", R(0)) in ([r"\dfrac{4}{3}"], [r"\tfrac{4}{3}"], [r"\frac43"])
    (d,) = corpus.digit_change("1011_2", R(0))
    assert d.endswith("_2") and sum(a != b for a, b in zip(d, "1011_2")) == 1
    # unordered lists are permuted only when the problem says so
    assert corpus.reorder_set("1,3", R(0), "Enter all the solutions, separated by commas.") == ["3,1"]
    assert corpus.reorder_set("1,3", R(0), "List them in increasing order, separated by commas.") == []


def test_validator() -> None:
    ev = corpus._Evaluator()
    assert ev.compare("5", "5.0") is True
    assert ev.compare(r"\frac43", r"\frac{8}{6}") is True
    assert ev.compare("1,3", "3,1") is True
    assert ev.compare("1,3", "1") is False
    assert ev.compare("x+1", "y+1") is False
    assert ev.compare("i^4", "i^8") is True  # i is the imaginary unit
    assert ev.compare("10^{20}", "10^{20}+1") is False  # exact enough for large integers
    assert ev.same_set(r"(-\infty,2]\cup[2,5]", r"(-\infty,2)\cup[2,5]") is True
    assert ev.same_set(r"(2,\infty)", r"[2,\infty)") is False
