"""The benchmark registry: every entry loads its shared-data file; golds round-trip through the scorer."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest

from abel.config import EvalSetName
from abel.data import registry
from abel.scoring.runner import score_rows

# rows per file, from shared/data/MANIFEST.md
EXPECTED_ROWS = {"gsm8k": 1319, "gsm8k_robust": 1319, "math": 5000, "math500": 500, "svamp": 1000, "asdiv": 2215,
                 "mawps": 2065, "mathqa": 1000, "gsm_hard": 1319, "gsm_plus": 2400, "tal_scq5k_en": 2000,
                 "chain_sum": 1000,  # procedural: its size in the YAML
                 # perturbation sets: the base questions (of 300 drawn) whose versions came out clean
                 "gsm_symbolic_base": 228, "gsm_symbolic_names": 228, "gsm_symbolic_numbers": 228, "gsm_symbolic_both": 228}


def test_registry_names_match_config() -> None:
    assert set(registry.benchmarks()) == set(get_args(EvalSetName)) == set(EXPECTED_ROWS)


@pytest.mark.parametrize("name", sorted(EXPECTED_ROWS))
def test_entry_loads_and_gold_round_trips(name: str, data_dir: Path) -> None:
    items = registry.load(name, data_dir)
    assert len(items) == EXPECTED_ROWS[name]
    assert len({it.id for it in items}) == len(items), "ids are unique"
    assert all(it.question and it.gold and it.prompt.startswith("Question:\n") for it in items)
    # the gold written as a response, in the form a model is taught to answer, scores 100%
    rows = [{"response": f"The answer is \\boxed{{{it.gold}}}." if it.kind == "latex" else f"#### {it.gold}",
             "gold": it.gold} for it in items]
    verdicts, summary = score_rows(rows, "strict", kind=items[0].kind, progress=False)
    failures = [(it.id, it.gold, v["reason"]) for it, v in zip(items, verdicts) if not v["correct"]]
    assert failures == []


def test_multiple_choice_prompts_list_their_options(data_dir: Path) -> None:
    mathqa = registry.load("mathqa", data_dir, limit=1)[0]
    assert "\n(A) " in mathqa.question and "\n(E) " in mathqa.question
    tal = registry.load("tal_scq5k_en", data_dir, limit=5)
    assert all("\n(A) " in it.question for it in tal)


def test_tags(data_dir: Path) -> None:
    math = registry.load("math", data_dir, limit=3)
    assert all(set(it.tags) == {"level", "type"} for it in math)
    plus = {it.tags["perturbation_type"] for it in registry.load("gsm_plus", data_dir)}
    assert len(plus) == 8


def test_limit_is_a_fixed_seeded_subset(data_dir: Path) -> None:
    a = registry.load("gsm8k", data_dir, limit=50, seed=3)
    b = registry.load("gsm8k", data_dir, limit=50, seed=3)
    c = registry.load("gsm8k", data_dir, limit=50, seed=4)
    assert [i.id for i in a] == [i.id for i in b] != [i.id for i in c]
    assert [int(i.id) for i in a] == sorted(int(i.id) for i in a)


def test_missing_file_and_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(registry.RegistryError, match="missing .*gsm8k/test.jsonl.*data.dir"):
        registry.load("gsm8k", tmp_path)
    with pytest.raises(registry.RegistryError, match="unknown benchmark 'gsm9k'"):
        registry.get("gsm9k")


def test_bad_entry_names_file_and_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "broken.yaml").write_text("name: broken\ndescription: x\nfile: a.jsonl\nremote: r\n"
                                          "question: '{q}'\ngold: {field: a, extract: magic}\nkind: numeric\n")
    monkeypatch.setattr(registry, "REGISTRY_DIR", tmp_path)
    registry.benchmarks.cache_clear()
    try:
        with pytest.raises(registry.RegistryError, match=r"broken\.yaml: gold\.extract"):
            registry.benchmarks()
    finally:
        registry.benchmarks.cache_clear()
