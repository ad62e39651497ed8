"""Controlled perturbations: each version changes exactly what it says, and the sets pair by id."""

from __future__ import annotations

import re
from pathlib import Path

from abel.data import registry
from abel.data.perturb import perturbation_sets, swap

NUM = re.compile(r"\d+(?:[.,]\d+)*")


def test_swap_is_whole_word_simultaneous_and_keeps_plurals() -> None:
    assert swap("Ava met Mia; Avatar", {"Ava": "Mia", "Mia": "Ava"}) == "Mia met Ava; Avatar"
    assert swap("3 chess puzzles, 1 chess puzzle, $5", {"chess puzzle": "riddle", "$": "£"}) == "3 riddles, 1 riddle, £5"


def test_each_version_changes_only_what_it_names() -> None:
    sets = perturbation_sets(11, 120)
    n = len(sets["base"])
    assert n > 60 and all(len(rows) == n for rows in sets.values())
    for base, names, numbers, both in zip(sets["base"], sets["names"], sets["numbers"], sets["both"]):
        assert base["id"] == names["id"] == numbers["id"] == both["id"] and base["template"] == both["template"]
        # names: same numbers, same answer, different text
        assert NUM.findall(names["question"]) == NUM.findall(base["question"]) and names["answer"] == base["answer"]
        assert names["question"] != base["question"]
        # numbers: different numbers; with the numbers masked, the same words as base
        assert NUM.findall(numbers["question"]) != NUM.findall(base["question"])
        assert NUM.sub("0", numbers["question"]) == NUM.sub("0", base["question"])
        # both: the numbers of `numbers` and the names of `names`
        assert NUM.findall(both["question"]) == NUM.findall(numbers["question"]) and both["answer"] == numbers["answer"]
        assert NUM.sub("0", both["question"]) == NUM.sub("0", names["question"])


def test_registry_sets_pair_by_id_under_any_subset(tmp_path: Path) -> None:
    loaded = {v: registry.load(f"gsm_symbolic_{v}", tmp_path, limit=10, seed=3) for v in ("base", "names", "numbers", "both")}
    ids = [i.id for i in loaded["base"]]
    assert all([i.id for i in items] == ids for items in loaded.values())
    assert [i.gold for i in loaded["base"]] == [i.gold for i in loaded["names"]]
