"""Analysis of scored released generations on hand-made scored files (no scoring workers, no data dir)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from abel import artifacts as A
from abel.analysis.released import (accuracy_table, gsm8k_step_tags, load_published, load_scored, robustness_table,
                                    steps_table, tag_table, write_accuracy_metrics)
from abel.analysis.stats import mcnemar_exact, paired_bootstrap_delta, wilson
from abel.io import InputError, write_jsonl
from abel.scoring.released import ReleasedFile, score_released, scored_path

REPO = Path(__file__).resolve().parents[2]
P = "Question:\n{}\nAnswer:\nLet's think step by step.\n"


def _row(i: int, correct: bool, prompt: str = "", **kw) -> dict:
    return {"id": i, "sample": 0, "prompt": prompt, "response": "#### 1", "gold": "1", "tags": {},
            "pred": "1", "correct": correct, "reason": "" if correct else "wrong number", **kw}


# --- load_scored --------------------------------------------------------------------------------

def test_load_scored_reads_the_score_stage_layout(tmp_path: Path) -> None:
    write_jsonl(scored_path(tmp_path, "gsm8k", "7b", "strict"), [_row(0, True), _row(1, False)])
    write_jsonl(scored_path(tmp_path, "gsm8k", "7b", "abel"), [_row(0, True)])
    write_jsonl(scored_path(tmp_path, "gsm8k_robust", "13b", "strict"), [_row(0, False)])
    write_jsonl(scored_path(tmp_path, "math", "v1.5", "strict"), [_row(0, True)])  # a dot in the model name
    (tmp_path / "summary.json").write_text("[]\n")  # the score stage's summary sits beside the folders
    (tmp_path / "gsm8k" / "notes.txt").write_text("not scored\n")

    scored = load_scored(tmp_path)
    assert sorted(scored) == [("gsm8k", "7b", "abel"), ("gsm8k", "7b", "strict"), ("gsm8k_robust", "13b", "strict"),
                              ("math", "v1.5", "strict")]
    assert [r["correct"] for r in scored[("gsm8k", "7b", "strict")]] == [True, False]
    assert scored[("gsm8k_robust", "13b", "strict")][0]["id"] == 0


def test_load_scored_reads_what_score_released_writes(tmp_path: Path) -> None:
    src = tmp_path / "in" / "gsm8k" / "7b.jsonl"
    write_jsonl(src, [{"id": 0, "response": "#### 5", "gold": "5"}, {"id": 1, "response": "#### 6", "gold": "5"}])
    out = tmp_path / "scored"
    score_released([ReleasedFile("gsm8k", "7b", src)], out, ["strict"], timeout_s=1.0, workers=1, memory_mb=512,
                   progress=False)
    scored = load_scored(out)
    assert list(scored) == [("gsm8k", "7b", "strict")]
    assert [r["correct"] for r in scored[("gsm8k", "7b", "strict")]] == [True, False]


def test_load_scored_empty_or_invalid(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"no scored files under .*dvc repro score"):
        load_scored(tmp_path)
    assert load_scored(tmp_path, required=False) == {}
    assert load_scored(tmp_path / "absent", required=False) == {}
    write_jsonl(tmp_path / "gsm8k" / "7b.strict.jsonl", [{"id": 0, "prompt": ""}])  # no verdict
    with pytest.raises(InputError, match=r"7b\.strict\.jsonl:1: missing field 'correct'"):
        load_scored(tmp_path)


# --- accuracy_table / write_accuracy_metrics ------------------------------------------------------

def _scored_for_accuracy() -> dict:
    return {
        ("gsm8k", "13b", "strict"): [_row(i, c) for i, c in enumerate([True, True, True, False])],
        ("gsm8k", "7b", "strict"): [_row(0, True), _row(1, False, reason="timeout: 1.0 s"),
                                    _row(2, False, reason="error: boom")],
        ("gsm8k", "7b", "abel"): [_row(0, True), _row(1, True), _row(2, False)],
        ("gsm8k_robust", "7b", "strict"): [_row(0, False, reason="timeout")],
    }


def test_accuracy_table_wilson_intervals_and_order() -> None:
    rows = accuracy_table(_scored_for_accuracy(), ci=0.9)
    # by benchmark, then model size (7b before 13b, not by string), then mode
    assert [(r["benchmark"], r["model"], r["mode"]) for r in rows] == [
        ("gsm8k", "7b", "abel"), ("gsm8k", "7b", "strict"), ("gsm8k", "13b", "strict"), ("gsm8k_robust", "7b", "strict")]
    by = {(r["benchmark"], r["model"], r["mode"]): r for r in rows}
    three_of_four = by[("gsm8k", "13b", "strict")]
    expected = wilson(3, 4, ci=0.9)
    assert three_of_four["accuracy"] == 0.75 and three_of_four["n"] == 4 and three_of_four["ci"] == 0.9
    assert three_of_four["ci_lo"] == pytest.approx(expected.lo) and three_of_four["ci_hi"] == pytest.approx(expected.hi)
    assert three_of_four["ci_lo"] < 0.75 < three_of_four["ci_hi"] < 1.0
    # only reasons starting with "timeout" count as timeouts
    assert by[("gsm8k", "7b", "strict")]["timeouts"] == 1 and three_of_four["timeouts"] == 0
    assert by[("gsm8k_robust", "7b", "strict")] == {
        "benchmark": "gsm8k_robust", "model": "7b", "mode": "strict", "accuracy": 0.0, "ci_lo": 0.0,
        "ci_hi": pytest.approx(wilson(0, 1, ci=0.9).hi), "ci": 0.9, "n": 1, "timeouts": 1}


def test_write_accuracy_metrics_one_file_per_benchmark_and_model(tmp_path: Path) -> None:
    rows = accuracy_table(_scored_for_accuracy(), ci=0.95)
    paths = write_accuracy_metrics(rows, tmp_path / "metrics")
    assert [p.name for p in paths] == ["gsm8k__13b.json", "gsm8k__7b.json", "gsm8k_robust__7b.json"]
    seven = json.loads((tmp_path / "metrics" / "gsm8k__7b.json").read_text())
    assert set(seven) == {"benchmark", "model", "abel", "strict"}
    assert (seven["benchmark"], seven["model"]) == ("gsm8k", "7b")
    assert seven["abel"]["accuracy"] == pytest.approx(2 / 3) and seven["strict"]["accuracy"] == pytest.approx(1 / 3)
    assert set(seven["strict"]) == {"accuracy", "ci_lo", "ci_hi", "ci", "n", "timeouts"}
    assert seven["strict"]["timeouts"] == 1 and seven["strict"]["n"] == 3
    # the names the report stage reads (artifacts.RELEASED_ACCURACY)
    assert all(f"{A.RELEASED_METRICS}/{p.name}" in A.RELEASED_ACCURACY for p in paths)


# --- robustness_table -----------------------------------------------------------------------------

BASE = [True] * 8 + [False] * 2
PERTURBED = [True] * 5 + [False] * 3 + [True, False]  # ids 5-7 break, id 8 is fixed, id 9 wrong in both


def _robust_pair() -> dict:
    base = [_row(i, c, P.format(f"Ann has {i + 2} pens.")) for i, c in enumerate(BASE)]
    other = [_row(i, c, P.format(f"Ann has {i + 20} pens.")) for i, c in enumerate(PERTURBED)]
    other[0]["prompt"] = P.format("Ann has 99 red pens.")  # one extra word: overlap 10/11
    base.append(_row(10, True, P.format("Ann has 3 pens.")))  # no twin: unpaired
    base.append(_row(11, True, P.format("Ann has 3 pens.")))
    other.append(_row(11, False, P.format("Completely different wording about trains and speed here.")))  # misaligned
    return {("gsm8k", "13b", "strict"): base, ("gsm8k_robust", "13b", "strict"): other,
            ("gsm8k", "7b", "strict"): base, ("gsm8k_robust", "7b", "strict"): [_row(i, True, r["prompt"])
                                                                                for i, r in enumerate(other[:10])],
            ("gsm8k", "70b", "strict"): base}  # no perturbed file: no row


def test_robustness_table_planted_pair() -> None:
    rows = robustness_table(_robust_pair(), [("gsm8k", "gsm8k_robust")], resamples=2000, ci=0.95, seed=0)
    assert [r["model"] for r in rows] == ["7b", "13b"]
    r = rows[1]
    assert (r["base"], r["perturbed"], r["mode"]) == ("gsm8k", "gsm8k_robust", "strict")
    assert (r["n_paired"], r["n_base"], r["n_perturbed"]) == (10, 12, 11)
    assert r["min_prompt_overlap"] == pytest.approx(round(10 / 11, 3))
    assert r["acc_base"] == pytest.approx(0.8) and r["acc_perturbed"] == pytest.approx(0.6)
    assert r["delta"] == pytest.approx(-0.2)
    expected = paired_bootstrap_delta(BASE, PERTURBED, resamples=2000, ci=0.95, seed=0)
    assert (r["delta_lo"], r["delta_hi"]) == pytest.approx((expected.lo, expected.hi))
    assert r["delta_lo"] <= -0.2 <= r["delta_hi"] and r["ci"] == 0.95
    mc = r["mcnemar"]
    assert (mc["only_base"], mc["only_other"], mc["both"], mc["neither"]) == (3, 1, 5, 1)
    assert mc["p_value"] == pytest.approx(0.625) == mcnemar_exact(BASE, PERTURBED).p_value
    # 7b: every perturbed question right -> +2 questions of 10
    assert rows[0]["delta"] == pytest.approx(0.2) and rows[0]["mcnemar"]["only_other"] == 2


def test_robustness_table_min_overlap_and_no_pairs() -> None:
    scored = _robust_pair()
    strict_rows = robustness_table(scored, [("gsm8k", "gsm8k_robust")], resamples=200, ci=0.95, seed=0,
                                   min_overlap=0.95)
    assert [r["n_paired"] for r in strict_rows] == [9, 9]  # the 10/11-overlap pair (id 0) dropped
    assert all(r["min_prompt_overlap"] == 1.0 for r in strict_rows)
    loose = robustness_table(scored, [("gsm8k", "gsm8k_robust")], resamples=200, ci=0.95, seed=0, min_overlap=0.3)
    assert [r["n_paired"] for r in loose] == [10, 11]  # 13b's misaligned id 11 (overlap 7/18) now counts
    assert robustness_table(scored, [("gsm8k", "gsm_plus")], resamples=200, ci=0.95, seed=0) == []
    assert robustness_table(scored, [], resamples=200, ci=0.95, seed=0) == []


# --- steps_table / gsm8k_step_tags ----------------------------------------------------------------

def test_gsm8k_step_tags_counts_solution_lines(tmp_path: Path) -> None:
    test = tmp_path / "test.jsonl"
    write_jsonl(test, [{"question": " Ann has 2 pens. ", "answer": "a = 2\n\nb = 3\nc = 5\n#### 5"},
                       {"question": "One step?", "answer": "2 + 2 = 4\n#### 4"}])
    assert gsm8k_step_tags(test) == {"Ann has 2 pens.": 3, "One step?": 1}


def test_steps_table_buckets_and_filters() -> None:
    tags = {"q two a": 2, "q two b": 2, "q ten": 10, "q nine": 9}
    items = [_row(0, True, P.format("q two a")), _row(1, False, P.format("q two b")),
             _row(2, True, P.format("q ten")), _row(3, True, P.format("q nine")),
             _row(4, True, P.format("unknown question"))]
    scored = {("gsm8k", "7b", "strict"): items, ("math", "7b", "strict"): items,
              ("gsm8k", "13b", "abel"): [_row(0, True, P.format("not tagged"))]}
    rows = steps_table(scored, tags, max_bucket=8, ci=0.95)
    assert [(r["benchmark"], r["model"], r["mode"], r["steps"], r["n"], r["value"]) for r in rows] == [
        ("gsm8k", "7b", "strict", 2, 2, 0.5), ("gsm8k", "7b", "strict", 8, 2, 1.0)]
    assert rows[0]["lo"] == pytest.approx(wilson(1, 2).lo) and rows[0]["hi"] == pytest.approx(wilson(1, 2).hi)
    # another benchmark's rows are read when asked for
    assert {r["benchmark"] for r in steps_table(scored, tags, benchmark="math", ci=0.95)} == {"math"}


# --- tag_table ------------------------------------------------------------------------------------

def test_tag_table_groups_by_registry_tags() -> None:
    math_items = [_row(0, True, tags={"level": "Level 1", "type": "Algebra"}),
                  _row(1, False, tags={"level": "Level 1", "type": "Algebra"}),
                  _row(2, True, tags={"level": "Level 5", "type": "Geometry"})]
    scored = {("math", "sft", "strict"): math_items,
              ("gsm8k", "sft", "strict"): [_row(0, True, tags={"x": 1})],  # gsm8k has no registry tags
              ("not_a_benchmark", "sft", "strict"): [_row(0, True, tags={"level": 1})],
              ("math", "sft", "abel"): [{k: v for k, v in r.items() if k != "tags"} for r in math_items]}
    rows = tag_table(scored, ci=0.95)
    assert [(r["benchmark"], r["mode"], r["level"], r["type"], r["n"], r["value"]) for r in rows] == [
        ("math", "strict", "Level 1", "Algebra", 2, 0.5), ("math", "strict", "Level 5", "Geometry", 1, 1.0)]
    assert all(r["tags"] == ["level", "type"] and r["model"] == "sft" for r in rows)


# --- load_published -------------------------------------------------------------------------------

def test_load_published_readme_numbers() -> None:
    pub = load_published(REPO / A.PUBLISHED)
    assert pub["accuracy"]["gsm8k"]["7b"] == 59.74 and pub["accuracy"]["gsm8k_robust"]["13b"] == 66.57
    assert pub["source"]["url"] == "https://github.com/GAIR-NLP/abel"
    # the README's robustness deltas are its own gsm8k_robust minus gsm8k accuracies
    for model, delta in pub["robustness_delta"].items():
        acc = pub["accuracy"]
        assert acc["gsm8k_robust"][model] - acc["gsm8k"][model] == pytest.approx(delta, abs=1e-9)
