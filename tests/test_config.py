from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from abel.config import ParamsError, find_root, load_params, parse_params

REPO = Path(__file__).resolve().parents[1]


def test_repo_params_load_and_match_defaults() -> None:
    params = load_params(REPO / "params.yaml")
    assert params.score.modes == ["abel", "strict"]
    assert params == parse_params(params.model_dump())


@pytest.mark.parametrize("raw,key,phrase", [
    ({"score": {"timeout": 1}}, "score.timeout", "unknown key"),
    ({"scor": {}}, "scor", "unknown key"),
    ({"score": {"timeout_s": "fast"}}, "score.timeout_s", "valid number"),
    ({"score": {"timeout_s": -1}}, "score.timeout_s", "greater than 0"),
    ({"score": {"workers": 0}}, "score.workers", "greater than or equal to 1"),
    ({"score": {"modes": ["abel", "lenient"]}}, "score.modes.1", "'abel' or 'strict'"),
    ({"analyze": {"ci": 1.5}}, "analyze.ci", "less than 1"),
])
def test_bad_params_name_the_key(raw: dict, key: str, phrase: str) -> None:
    with pytest.raises(ParamsError) as err:
        parse_params(raw, "params.yaml")
    message = str(err.value)
    assert f"  {key}:" in message and phrase in message, message


def test_bad_yaml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "params.yaml"
    bad.write_text("score: [unclosed\n")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(bad)
    with pytest.raises(ParamsError, match="cannot read"):
        load_params(tmp_path / "nope.yaml")
    bad.write_text("- a list\n")
    with pytest.raises(ParamsError, match="mapping"):
        load_params(bad)


def test_find_root(tmp_path: Path) -> None:
    assert find_root(REPO / "notebooks") == REPO
    with pytest.raises(ParamsError, match="no repo root"):
        find_root(tmp_path)


def test_relative_data_dir_resolves_against_root(tmp_path: Path) -> None:
    params = parse_params({"data": {"dir": "data/x"}})
    assert params.data_dir(tmp_path) == (tmp_path / "data" / "x").resolve()
    assert parse_params({"data": {"dir": "/abs"}}).data_dir(tmp_path) == Path("/abs")


def test_profiles_overlay_sections_and_errors_name_the_profile() -> None:
    raw = {"sft": {"lr": 1e-4}, "profiles": {"tiny": {"sft": {"model": "tiny", "tiny": {"layers": 2}}},
                                             "paper": {"sft": {"lr": 2e-5, "precision": "bf16"}}}}
    assert parse_params(raw).sft.lr == 1e-4 and parse_params(raw).profile == "cpu"
    tiny = parse_params({**raw, "profile": "tiny"})
    assert (tiny.sft.model, tiny.sft.tiny.layers, tiny.sft.tiny.hidden_size, tiny.sft.lr) == ("tiny", 2, 64, 1e-4)
    assert parse_params({**raw, "profile": "paper"}).sft.lr == 2e-5
    bad = {**raw, "profiles": {"paper": {"sft": {"lr": -1}}}}
    with pytest.raises(ParamsError, match=r"profiles\.paper\.sft\.lr"):
        parse_params(bad)  # found on the laptop even while the cpu profile is active
    with pytest.raises(ParamsError, match=r"profiles\.tiny\.score: Input should be 'curate', 'sft', 'generate' or 'overfit'"):
        parse_params({"profiles": {"tiny": {"score": {}}}})
    with pytest.raises(ParamsError, match="profile: Input should be 'cpu', 'tiny', 'arith' or 'paper'"):
        parse_params({"profile": "gpu"})


def test_every_profile_in_params_yaml_is_valid() -> None:
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    for name in ("cpu", "tiny", "arith", "paper"):
        assert parse_params({**raw, "profile": name}).profile == name


def test_a_profile_replaces_source_and_benchmark_lists() -> None:
    raw = {"curate": {"sources": {"gsm8k": 1.0, "math": 1.0}},
           "generate": {"benchmarks": {"gsm8k": 24, "svamp": 12}, "batch_size": 4},
           "profiles": {"arith": {"curate": {"sources": {"chain_sum": 1.0}},
                                  "generate": {"benchmarks": {"chain_sum": 400}}}}}
    arith = parse_params({**raw, "profile": "arith"})
    # merged, gsm8k would stay on (and gsm8k: 0 would mean *all* questions, not none)
    assert arith.curate.sources == {"chain_sum": 1.0} and arith.generate.benchmarks == {"chain_sum": 400}
    assert arith.generate.batch_size == 4  # everything else still merges


def test_compare_runs_use_the_compare_profile_whatever_the_active_one() -> None:
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    arith = parse_params({**raw, "profile": "arith"})
    for active in ("cpu", "tiny"):
        params = parse_params({**raw, "profile": active})
        assert params.profile == active
        run = params.compare_run("answer_only")
        assert run.profile == "arith" and run.curate.format == "answer_only"
        assert run.sft == arith.sft and run.generate == arith.generate
        assert run.curate == arith.curate.model_copy(update={"format": "answer_only"})
    # another compare.profile: its sections
    tiny = parse_params({**raw, "profile": "tiny"})
    params = parse_params({**raw, "compare": {**raw["compare"], "profile": "tiny"}})
    assert params.compare_run("stepwise").sft == tiny.sft


def test_compare_params_errors_name_the_key() -> None:
    with pytest.raises(ParamsError, match=r"compare\.formats: .*each format once"):
        parse_params({"compare": {"formats": ["stepwise", "stepwise"]}})
    with pytest.raises(ParamsError, match=r"compare\.formats: .*at least 2"):
        parse_params({"compare": {"formats": ["stepwise"]}})
    with pytest.raises(ParamsError, match=r"compare\.profile: "):
        parse_params({"compare": {"profile": "huge"}})
    with pytest.raises(ParamsError, match=r"compare\.benchmark: "):
        parse_params({"compare": {"benchmark": "gsm9k"}})
    params = parse_params({"compare": {"formats": ["answer_only", "stepwise"]}})
    with pytest.raises(ParamsError, match=r"compare\.formats: 'original' is not one of them \(answer_only, stepwise\)"):
        params.compare_run("original")


def test_compare_run_of_params_not_read_from_a_file() -> None:
    """Built directly (tests), the base sections are the cpu view; a profile's view needs parse_params."""
    from abel.config import Params

    direct = Params(compare={"profile": "cpu"})
    assert direct.compare_run("original").curate.format == "original"
    with pytest.raises(ParamsError, match="not read by parse_params"):
        Params(profile="tiny").compare_run("stepwise")


def test_the_resolved_view_holds_what_each_comparison_run_trains_with() -> None:
    from abel.config import resolved_view

    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    view = resolved_view(parse_params({**raw, "profile": "tiny"}))
    run = parse_params(raw).compare_run("stepwise")
    assert view["compare"]["run"]["sft"] == run.sft.model_dump(mode="json")
    # of generate, what greedy hf decoding reads (the run sets backend, model, sampling and its questions itself)
    assert view["compare"]["run"]["generate"] == run.generate.model_dump(
        mode="json", include={"batch_size", "max_new_tokens", "stop", "precision"})
    assert "format" not in view["compare"]["run"]["curate"]  # each run sets its own
    assert view["compare"]["formats"] == ["answer_only", "original", "stepwise"]
