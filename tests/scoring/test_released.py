"""Finding and scoring released / generated files (strict mode on the fast path: no scoring workers)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from abel.artifacts import metric_key
from abel.io import InputError, MissingOutput, read_jsonl, write_json, write_jsonl
from abel.scoring.released import (SUMMARY_FIELDS, ReleasedFile, discover, discover_generated, load_summary,
                                   score_released, scored_path, summary_metrics)

PATTERN = "abel_outputs/outputs/*/*.jsonl"
P = "Question:\n{}\nAnswer:\nLet's think step by step.\n"


# --- discover / discover_generated ----------------------------------------------------------------

def test_discover_finds_benchmark_and_model(tmp_path: Path) -> None:
    out = tmp_path / "abel_outputs" / "outputs"
    for rel in ("gsm8k/7b.jsonl", "gsm8k/13b.jsonl", "gsm8k_robust/7b.jsonl"):
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text("{}\n")
    (out / "gsm8k" / "README.md").write_text("not a generation file\n")
    (out / "math" / "dir.jsonl").mkdir(parents=True)  # a folder that matches the pattern is skipped
    files = discover(tmp_path, PATTERN)
    assert [(f.benchmark, f.model, f.path) for f in files] == [
        ("gsm8k", "13b", out / "gsm8k" / "13b.jsonl"), ("gsm8k", "7b", out / "gsm8k" / "7b.jsonl"),
        ("gsm8k_robust", "7b", out / "gsm8k_robust" / "7b.jsonl")]
    assert [f.model for f in discover(tmp_path, "abel_outputs/outputs/gsm8k/7*.jsonl")] == ["7b"]


def test_discover_missing_dir_names_the_setting(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError) as exc:
        discover(missing, PATTERN)
    msg = str(exc.value)
    assert msg.startswith(f"data directory {missing} does not exist")
    assert "set data.dir in params.yaml" in msg and "dvc exp run -S data.dir=" in msg and "abel_outputs/" in msg


def test_discover_nothing_matches_names_the_pattern(tmp_path: Path) -> None:
    (tmp_path / "abel_outputs" / "outputs" / "gsm8k").mkdir(parents=True)
    with pytest.raises(FileNotFoundError) as exc:
        discover(tmp_path, PATTERN)
    assert str(exc.value) == f"no released generations match {tmp_path}/{PATTERN} (score.released_glob)"


def test_discover_generated(tmp_path: Path) -> None:
    gen = tmp_path / "outputs" / "generations"
    assert discover_generated(gen, "sft") == []  # nothing generated yet: no error
    gen.mkdir(parents=True)
    assert discover_generated(gen, "sft") == []
    for name in ("math", "gsm8k"):
        (gen / f"{name}.jsonl").write_text("{}\n")
    (gen / "summary.json").write_text("{}\n")
    assert discover_generated(gen, "sft") == [ReleasedFile("gsm8k", "sft", gen / "gsm8k.jsonl"),
                                              ReleasedFile("math", "sft", gen / "math.jsonl")]


# --- score_released -------------------------------------------------------------------------------

ROWS = [
    {"id": 10, "sample": 1, "prompt": P.format("Ann has 2 pens and buys 3."), "response": "2 + 3 = 5\n#### 5",
     "gold": "5", "tags": {"level": 1}},
    {"id": 11, "prompt": P.format("x"), "response": "#### 7", "gold": "8",
     "pred": "8", "correct": True, "result": True},  # a stored verdict is ignored
    {"response": "So 1,200 apples.\n#### 1,200", "gold": 1200},  # no id: its row number; a numeric gold
    {"id": 13, "response": "I do not know", "gold": "4"},
]


def _released(tmp_path: Path) -> list[ReleasedFile]:
    a, b = tmp_path / "in" / "gsm8k" / "7b.jsonl", tmp_path / "in" / "gsm8k_robust" / "7b.jsonl"
    write_jsonl(a, ROWS)
    write_jsonl(b, [{"id": 0, "response": "#### 5", "gold": "5"}])
    return [ReleasedFile("gsm8k", "7b", a), ReleasedFile("gsm8k_robust", "7b", b)]


def test_score_released_strict_rows_and_summary(tmp_path: Path) -> None:
    out = tmp_path / "scored"
    summary = score_released(_released(tmp_path), out, ["strict"], timeout_s=1.0, workers=1, memory_mb=512,
                             progress=False)
    rows = read_jsonl(scored_path(out, "gsm8k", "7b", "strict"))
    assert scored_path(out, "gsm8k", "7b", "strict") == out / "gsm8k" / "7b.strict.jsonl"
    assert [r["id"] for r in rows] == [10, 11, 2, 13]
    assert [r["correct"] for r in rows] == [True, False, True, False]
    assert [r["pred"] for r in rows] == ["5", "7", "1,200", None]
    assert rows[1]["reason"] == "wrong number" and rows[3]["reason"].startswith("no #### marker")
    assert rows[0] == {"id": 10, "sample": 1, "prompt": ROWS[0]["prompt"], "response": ROWS[0]["response"],
                       "gold": "5", "tags": {"level": 1}, "pred": "5", "correct": True, "reason": ""}
    assert rows[2]["sample"] == 0 and rows[2]["prompt"] == "" and rows[2]["tags"] == {} and rows[2]["gold"] == 1200
    assert "result" not in rows[1]

    assert [(s["benchmark"], s["model"], s["mode"], s["source"]) for s in summary] == [
        ("gsm8k", "7b", "strict", "7b.jsonl"), ("gsm8k_robust", "7b", "strict", "7b.jsonl")]
    first = summary[0]
    assert (first["n"], first["correct"], first["accuracy"], first["timeouts"], first["errors"], first["slow_path"]) \
        == (4, 2, 0.5, 0, 0, 0)
    assert "seconds" in first  # returned to the caller ...
    written = json.loads((out / "summary.json").read_text())
    assert all("seconds" not in s for s in written)  # ... but never written (tracked output)
    assert written == [{k: v for k, v in s.items() if k != "seconds"} for s in summary]
    assert written[1]["accuracy"] == 1.0 and written[1]["n"] == 1
    assert str(tmp_path) not in (out / "summary.json").read_text()  # no absolute paths


def test_score_released_is_deterministic(tmp_path: Path) -> None:
    files = _released(tmp_path)
    kw = dict(timeout_s=1.0, workers=1, memory_mb=512, progress=False)
    score_released(files, tmp_path / "one", ["strict"], **kw)
    score_released(files, tmp_path / "two", ["strict"], **kw)
    for rel in ("summary.json", "gsm8k/7b.strict.jsonl", "gsm8k_robust/7b.strict.jsonl"):
        assert (tmp_path / "one" / rel).read_bytes() == (tmp_path / "two" / rel).read_bytes()


def test_score_released_uses_the_rows_answer_kind(tmp_path: Path) -> None:
    """Our generations carry the registry's answer kind: a choice benchmark wants an option letter."""
    path = tmp_path / "gen" / "mc.jsonl"
    write_jsonl(path, [{"id": 0, "response": "#### 5 apples", "gold": "5", "kind": "choice"}])
    out = tmp_path / "scored"
    summary = score_released([ReleasedFile("mc", "sft", path)], out, ["strict"], timeout_s=1.0, workers=1,
                             memory_mb=512, progress=False)
    row = read_jsonl(scored_path(out, "mc", "sft", "strict"))[0]
    assert row["correct"] is False and row["reason"] == "no option letter" and summary[0]["correct"] == 0


def test_score_released_rejects_rows_without_response(tmp_path: Path) -> None:
    path = tmp_path / "gsm8k" / "7b.jsonl"
    write_jsonl(path, [{"id": 0, "gold": "5"}])
    with pytest.raises(InputError, match=r"7b\.jsonl:1: missing field 'response'"):
        score_released([ReleasedFile("gsm8k", "7b", path)], tmp_path / "out", ["strict"], timeout_s=1.0, workers=1,
                       memory_mb=512, progress=False)
    assert not (tmp_path / "out" / "summary.json").exists()


# --- summary_metrics / load_summary ---------------------------------------------------------------

def test_summary_metrics_and_load_summary_round_trip(tmp_path: Path) -> None:
    summary = score_released(_released(tmp_path), tmp_path / "scored", ["strict"], timeout_s=1.0, workers=1,
                             memory_mb=512, progress=False)
    metrics = summary_metrics(summary)
    assert list(metrics) == [metric_key("gsm8k", "7b", "strict"), metric_key("gsm8k_robust", "7b", "strict")]
    assert list(metrics) == ["gsm8k/7b/strict", "gsm8k_robust/7b/strict"]
    assert all(tuple(row) == SUMMARY_FIELDS for row in metrics.values())  # no seconds, no source
    assert metrics["gsm8k/7b/strict"] == {"n": 4, "correct": 2, "accuracy": 0.5, "timeouts": 0, "errors": 0,
                                          "slow_path": 0}

    write_json(tmp_path / "metrics" / "score_summary.json", metrics)
    loaded = load_summary(tmp_path, "metrics/score_summary.json")
    assert loaded == [{"benchmark": s["benchmark"], "model": s["model"], "mode": s["mode"],
                       **{k: s[k] for k in SUMMARY_FIELDS}} for s in summary]
    assert summary_metrics(loaded) == metrics


def test_summary_metrics_rejects_a_slash_in_a_key_part() -> None:
    row = {"benchmark": "gsm8k", "model": "org/7b", "mode": "strict", **{k: 0 for k in SUMMARY_FIELDS}}
    with pytest.raises(ValueError, match="may not contain '/'"):
        summary_metrics([row])
    assert summary_metrics([]) == {}


def test_load_summary_missing_says_which_stage(tmp_path: Path) -> None:
    with pytest.raises(MissingOutput, match=r"metrics/released/score_summary\.json does not exist yet: run `dvc repro score`"):
        load_summary(tmp_path, "metrics/released/score_summary.json")
    write_json(tmp_path / "empty.json", {})
    assert load_summary(tmp_path, "empty.json") == []
