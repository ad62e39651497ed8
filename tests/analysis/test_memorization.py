"""The memorization probe on hand-made data with a planted memorized answer."""

from __future__ import annotations

from abel.analysis import memorization as mem

TRAIN = [
    {"id": "t1", "question": "Tom has 3 red apples and buys 4 more apples at the shop. How many apples now?",
     "target": "1. Tom starts with 3 apples and buys 4 more apples at the shop.\n2. 3 + 4 = 7 apples in total.\n#### 7"},
    {"id": "t2", "question": "A train travels 60 miles per hour for 2 hours. How far does it go?",
     "target": "1. Distance is speed times time.\n2. 60 * 2 = 120 miles.\n#### 120"},
]


def test_planted_memorized_answer_is_found_and_counted_as_near() -> None:
    index = mem.TrainIndex(TRAIN, n=5)
    rows = [
        # near-copy of t1's question, answered with t1's rationale verbatim: memorized
        ("bench", "Tom has 3 red apples and buys 4 more apples at the shop. How many apples are there now?",
         {"id": "1", "response": TRAIN[0]["target"], "correct": True}),
        # far question, own words: not memorized
        ("bench", "What is the area of a circle whose radius is 5 centimetres?",
         {"id": "2", "response": "The area is pi times r squared which is 25 pi square centimetres.\n#### 78.5",
          "correct": False}),
        # too short to hold a 5-gram
        ("bench", "Compute 2 + 2.", {"id": "3", "response": "#### 4", "correct": True}),
    ]
    probes = {p.id: p for p in mem.probe(rows, index, threshold=0.8)}
    assert probes["1"].memorized and probes["1"].source_train_id == "t1" and probes["1"].overlap == 1.0
    assert probes["1"].nearest_train_id == "t1" and probes["1"].question_similarity > 0.5
    assert not probes["2"].memorized and probes["2"].overlap == 0.0 and probes["2"].question_similarity < 0.5
    assert probes["3"].overlap is None and not probes["3"].memorized

    summary = {r["group"]: r for r in mem.summary(list(probes.values()), near=0.5)}
    assert summary["near"]["n"] == 1 and summary["near"]["memorized"] == 1.0
    assert summary["far"]["n"] == 2 and summary["far"]["memorized"] == 0.0 and summary["far"]["too_short"] == 1
    assert "| bench | near | 1 | 100.0% |" in mem.markdown(list(summary.values()), 5, 0.8, 0.5)


def test_partial_copy_below_threshold_is_not_memorized() -> None:
    index = mem.TrainIndex(TRAIN, n=3)
    half = "1. Distance is speed times time. then something entirely different follows here now"
    [p] = mem.probe([("b", "unrelated question words here", {"id": "x", "response": half, "correct": False})], index)
    assert p.source_train_id == "t2" and 0.2 < p.overlap < 0.8 and not p.memorized
