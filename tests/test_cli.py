"""The ``abel`` CLI as a user runs it: ``score`` (JSON on stdout, --output rows, clear errors, nothing
half-written, interval and tag breakdown), bare ``abel`` / ``--version``, ``benchmarks``, and ``eval``
end to end on a tiny model."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import make_tiny_llama


REPO = Path(__file__).resolve().parents[1]


def run_abel(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "abel.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120, cwd=cwd)


def write_rows(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_score_prints_summary_and_writes_rows(tmp_path: Path) -> None:
    src = write_rows(tmp_path / "in.jsonl", [
        {"id": 0, "response": "#### 10.", "gold": "10", "pred": "stale", "result": False},
        {"id": 1, "response": "#### 3", "gold": "4", "result": True},
    ])
    out = tmp_path / "scored.jsonl"
    proc = run_abel("score", str(src), "--output", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert {k: summary[k] for k in ("n", "correct", "accuracy", "timeouts", "mode")} == {
        "n": 2, "correct": 1, "accuracy": 0.5, "timeouts": 0, "mode": "strict"}
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["correct"] for r in rows] == [True, False]
    assert rows[1]["reason"] == "wrong number"
    assert "result" not in rows[0] and rows[0]["pred"] == "10."


def test_abel_mode_from_cli(tmp_path: Path) -> None:
    src = write_rows(tmp_path / "in.jsonl", [{"response": "#### 10.", "gold": "10"}])
    proc = run_abel("score", str(src), "--mode", "abel", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["correct"] == 0  # the paper's scorer reads "10." as 1


@pytest.mark.parametrize("lines,where", [
    (['{"response": "#### 1", "gold": "1"}', '{"response": "#### 2", "gold": '], ":2: invalid JSON"),
    (['{"response": "#### 1", "gold": "1"}', '{"response": "#### 2"}'], ":2: missing field 'gold'"),
    (['[1, 2]'], ":1: expected a JSON object"),
    (['{"response": "#### 1", "gold": "1"}', ''], ":2: empty line"),
])
def test_bad_jsonl_names_file_and_line_and_writes_nothing(tmp_path: Path, lines: list[str], where: str) -> None:
    src = tmp_path / "bad.jsonl"
    src.write_text("\n".join(lines) + "\n")
    out = tmp_path / "scored.jsonl"
    proc = run_abel("score", str(src), "--output", str(out), "--quiet")
    assert proc.returncode == 2
    assert f"{src}{where}" in proc.stderr, proc.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == [src]


def test_missing_paper_scorer_is_a_clear_error(tmp_path: Path) -> None:
    src = write_rows(tmp_path / "in.jsonl", [{"response": "#### x^2", "gold": "x^2"}])
    proc = run_abel("score", str(src), "--mode", "abel", "--quiet",
                    env={"ABEL_PAPER_SCORER_DIR": str(tmp_path / "none")})
    assert proc.returncode == 2
    assert "abel install-paper-scorer" in proc.stderr


def test_missing_input_file(tmp_path: Path) -> None:
    proc = run_abel("score", str(tmp_path / "absent.jsonl"))
    assert proc.returncode == 2 and "cannot open" in proc.stderr


def test_atomic_write_leaves_nothing_on_failure(tmp_path: Path) -> None:
    from abel.io import write_jsonl

    target = tmp_path / "out.jsonl"
    target.write_text("old\n")

    def rows():
        yield {"a": 1}
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_jsonl(target, rows())
    assert target.read_text() == "old\n" and list(tmp_path.iterdir()) == [target]


@pytest.mark.parametrize("flag,value", [("--timeout-s", "-1"), ("--timeout-s", "abc"), ("--workers", "0")])
def test_bad_numeric_options_are_refused(tmp_path: Path, flag: str, value: str) -> None:
    src = write_rows(tmp_path / "in.jsonl", [{"response": "#### 1", "gold": "1"}])
    proc = run_abel("score", str(src), flag, value)
    assert proc.returncode == 2 and flag in proc.stderr


def test_stage_runs_its_checkouts_code_and_asks_notebooks_to_recompute(tmp_path: Path) -> None:
    """A queued `dvc exp` runs in a temp copy: its kernel must import that copy's src/, not ours."""
    import nbformat

    (tmp_path / "params.yaml").write_text("profile: cpu\n")
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    (tmp_path / "notebooks").mkdir()
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    params = nbformat.v4.new_code_cell("recompute = False")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(
        "import os, pathlib\npathlib.Path('seen.txt').write_text(os.environ['PYTHONPATH'] + '|' + str(recompute))")]
    nbformat.write(nb, tmp_path / "notebooks" / "01_probe.ipynb")
    proc = subprocess.run([sys.executable, "-m", "abel.cli", "stage", "probe", "--quiet"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    pythonpath, recompute = (tmp_path / "seen.txt").read_text().split("|")
    assert pythonpath.split(os.pathsep)[0] == str(tmp_path / "src") and recompute == "True"


def test_output_must_be_a_regular_file_other_than_the_input(tmp_path: Path) -> None:
    src = write_rows(tmp_path / "in.jsonl", [{"response": "#### 1", "gold": "1", "pred": "1", "result": True}])
    before = src.read_text()
    link = tmp_path / "link.jsonl"
    link.symlink_to(src)
    (tmp_path / "dir").mkdir()
    for out, message in ((src, "is the input file"), (link, "is the input file"), (tmp_path / "dir", "is a directory"),
                         (Path("/dev/null"), "not a regular file")):
        proc = run_abel("score", str(src), "--output", str(out), "--quiet")
        assert proc.returncode == 2 and message in proc.stderr, (out, proc.stderr)
    other = tmp_path / "other.jsonl"
    other.symlink_to(tmp_path / "elsewhere.jsonl")
    proc = run_abel("score", str(src), "--output", str(other), "--quiet")
    assert proc.returncode == 2 and "symbolic link" in proc.stderr
    assert src.read_text() == before and link.is_symlink() and not (tmp_path / "elsewhere.jsonl").exists()
    proc = run_abel("score", str(src), "--output", str(src), "--force", "--quiet")
    assert proc.returncode == 0 and json.loads(src.read_text())["correct"] is True


@pytest.mark.parametrize("content,message", [
    (b"", "no rows to score"),
    (b'{"response": "#### nan", "gold": NaN}\n', ":1: invalid JSON: NaN"),
    (b'{"response": "#### 1", "gold": Infinity}\n', ":1: invalid JSON: Infinity"),
    (b'{"response": "#### 1", "gold": "1"}\n{"response": "\xff", "gold": "1"}\n', ":2: not UTF-8 text (byte 0xff"),
])
def test_empty_nan_and_undecodable_inputs_are_refused(tmp_path: Path, content: bytes, message: str) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(content)
    proc = run_abel("score", str(src), "--quiet")
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("flag,value", [("--timeout-s", "nan"), ("--timeout-s", "inf"), ("--timeout-s", "601"),
                                        ("--workers", "100000"), ("--workers", "0")])
def test_limits_are_bounded(tmp_path: Path, flag: str, value: str) -> None:
    src = write_rows(tmp_path / "in.jsonl", [{"response": "#### 1", "gold": "1"}])
    proc = run_abel("score", str(src), flag, value, "--quiet")
    assert proc.returncode == 2 and "at most" in proc.stderr, proc.stderr


# --- bare `abel`, --version, `abel benchmarks` -------------------------------------------------------------

def test_bare_abel_prints_help_and_succeeds() -> None:
    proc = run_abel()
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: abel")
    for command in ("benchmarks", "eval", "score", "stage", "params"):
        assert f"\n    {command} " in proc.stdout, command
    assert "error" not in proc.stderr


def test_version_is_the_installed_distributions() -> None:
    import tomllib
    from importlib.metadata import version

    proc = run_abel("--version")
    assert proc.returncode == 0
    assert proc.stdout == f"abel {version('abel-repro')}\n"
    assert version("abel-repro") == tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


def test_benchmarks_lists_the_registry(data_dir: Path) -> None:
    from abel.data import registry

    proc = run_abel("benchmarks", "--data-dir", str(data_dir))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["benchmark", "kind", "tags", "source", "description"]
    rows = {line.split()[0]: line.split() for line in lines[1:] if line and line.split()[0] in registry.benchmarks()}
    assert set(rows) == set(registry.benchmarks())
    assert rows["gsm8k"][1:4] == ["numeric", "-", "gsm8k/test.jsonl"]
    assert rows["math500"][1:4] == ["latex", "level,subject", "math500/test.jsonl"]
    assert "(missing)" not in proc.stdout and str(data_dir) in lines[-1]
    listed = json.loads(run_abel("benchmarks", "--json", "--data-dir", str(data_dir)).stdout)
    by_name = {b["name"]: b for b in listed["benchmarks"]}
    assert by_name["math500"]["path"] == str(data_dir / "math500/test.jsonl") and by_name["math500"]["present"]
    assert by_name["chain_sum"]["source"].startswith("generated: chain_sum")
    elsewhere = json.loads(run_abel("benchmarks", "--json", "--data-dir", "/nonexistent").stdout)
    assert not {b["name"]: b for b in elsewhere["benchmarks"]}["gsm8k"]["present"]


# --- `abel eval` -------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-init tiny Llama saved as a Hugging Face folder: what `--model <dir>` loads."""
    path = tmp_path_factory.mktemp("models") / "tiny-llama"
    make_tiny_llama(path, max_positions=2048)
    return path


def wilson_interval(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """The Wilson score interval written out (independent of abel.analysis.stats)."""
    p = k / n
    centre, half = p + z * z / (2 * n), z * ((p * (1 - p) + z * z / (4 * n)) / n) ** 0.5
    return (centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n)


def table_row(stdout: str, benchmark: str, mode: str = "strict") -> dict[str, object]:
    """One row of the eval table: benchmark, mode, n, correct, accuracy %, [lo, hi] %."""
    header = next(line for line in stdout.splitlines() if line.startswith("benchmark"))
    assert header.split() == ["benchmark", "mode", "n", "correct", "accuracy", "%", "95%", "Wilson", "interval", "%"]
    line = next(line for line in stdout.splitlines() if line.split()[:2] == [benchmark, mode])
    _, _, n, correct, acc, lo, hi = line.split()
    return {"n": int(n), "correct": int(correct), "accuracy": float(acc),
            "lo": float(lo.strip("[,")), "hi": float(hi.strip("]"))}


def test_eval_end_to_end_on_a_tiny_model(tiny_model: Path, data_dir: Path, tmp_path: Path) -> None:
    from abel.data import registry

    repo = tmp_path / "repo"  # a checkout's params.yaml and dvc.yaml: eval writes only under its output folder
    repo.mkdir()
    for name in ("params.yaml", "dvc.yaml"):
        (repo / name).write_bytes((REPO / name).read_bytes())
    out = repo / "outputs/eval/tiny-llama"  # the default: outputs/eval/<model folder name>/
    args = ("eval", "--model", str(tiny_model), "--backend", "hf", "--benchmarks", "gsm8k", "--limit", "2", "--max-new-tokens", "8",
            "--data-dir", str(data_dir), "--quiet")
    proc = run_abel(*args, cwd=repo)
    assert proc.returncode == 0, proc.stderr[-3000:]
    written = {p.relative_to(repo).as_posix() for p in repo.rglob("*") if p.is_file()}
    assert {p for p in written if not p.startswith("outputs/eval/tiny-llama/")} == {"params.yaml", "dvc.yaml"}
    assert {"generations/gsm8k.jsonl", "generate_summary.json", "scored/gsm8k/tiny-llama.strict.jsonl",
            "scored/summary.json", "results.json"} <= {p.removeprefix("outputs/eval/tiny-llama/") for p in written}
    # the generate stage's published schema, on the registry's seeded subset
    rows = [json.loads(line) for line in (out / "generations/gsm8k.jsonl").read_text().splitlines()]
    items = registry.load("gsm8k", data_dir, 2, 0)
    assert [(r["id"], r["prompt"], r["gold"], r["kind"]) for r in rows] == [(it.id, it.prompt, it.gold, "numeric") for it in items]
    assert all(set(r) == {"id", "sample", "prompt", "response", "gold", "kind", "tags"} for r in rows)
    summary = json.loads((out / "generate_summary.json").read_text())
    assert summary["benchmarks"]["gsm8k"]["responses"] == 2 and summary["run"]["benchmarks"]["gsm8k"]["generated_now"] == 2
    assert summary["model"] == str(tiny_model) and summary["backend"] == "hf" and "commit" in summary["provenance"]
    # the score stage's files; the printed numbers are the scored file's
    scored_file = out / "scored/gsm8k/tiny-llama.strict.jsonl"
    scored = [json.loads(line) for line in scored_file.read_text().splitlines()]
    assert [r["id"] for r in scored] == [it.id for it in items]
    k = sum(r["correct"] for r in scored)
    row = table_row(proc.stdout, "gsm8k")
    lo, hi = wilson_interval(k, 2)
    assert row == {"n": 2, "correct": k, "accuracy": round(100 * k / 2, 1), "lo": round(100 * lo, 1), "hi": round(100 * hi, 1)}
    assert json.loads((out / "scored/summary.json").read_text())[0]["correct"] == k
    results = json.loads((out / "results.json").read_text())["results"]
    assert [(r["benchmark"], r["mode"], r["n"], r["correct"]) for r in results] == [("gsm8k", "strict", 2, k)]
    assert results[0]["ci_lo"] == pytest.approx(lo) and results[0]["ci_hi"] == pytest.approx(hi)

    # a re-run resumes from the work file (nothing generated again): answer the first question right there,
    # and the table, scored file and results follow it
    (work,) = (out / "work").glob("*/gsm8k.jsonl")
    work_rows = [json.loads(line) for line in work.read_text().splitlines()]
    first = items[0]
    work.write_text("".join(json.dumps({**r, "response": f"So the answer is\n#### {first.gold}"} if r["id"] == first.id
                                       else r) + "\n" for r in work_rows))
    again = run_abel(*args, cwd=repo)
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads((out / "generate_summary.json").read_text())["run"]["benchmarks"]["gsm8k"]["generated_now"] == 0
    rescored = [json.loads(line) for line in scored_file.read_text().splitlines()]
    assert rescored[0]["correct"] is True and rescored[1] == scored[1]
    k2 = 1 + int(scored[1]["correct"])
    lo, hi = wilson_interval(k2, 2)
    assert table_row(again.stdout, "gsm8k") == {"n": 2, "correct": k2, "accuracy": round(100 * k2 / 2, 1),
                                                 "lo": round(100 * lo, 1), "hi": round(100 * hi, 1)}
    assert json.loads((out / "results.json").read_text())["results"][0]["correct"] == k2


def test_unknown_benchmark_fails_before_the_model_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "eval"
    # the model does not exist either: the benchmark is checked first, and nothing is loaded or written
    proc = run_abel("eval", "--model", str(tmp_path / "absent-model"), "--benchmarks", "gsm8k,gsm9k", "--limit", "2",
                    "--output", str(out))
    assert proc.returncode == 2
    assert "--benchmarks: unknown benchmark 'gsm9k' (known: " in proc.stderr and "math500" in proc.stderr
    assert "Traceback" not in proc.stderr and "absent-model" not in proc.stderr
    assert proc.stdout == "" and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args,message", [
    (("--limit", "0"), "argument --limit: must be at least 1"),
    (("--limit", "two"), "argument --limit: expected a whole number of questions, got 'two'"),
    (("--batch-size", "0"), "--batch-size: Input should be greater than or equal to 1 (got 0)"),
])
def test_eval_bad_options_name_the_value(tiny_model: Path, tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    out = tmp_path / "eval"
    proc = run_abel("eval", "--model", str(tiny_model), "--benchmarks", "gsm8k", *args, "--output", str(out))
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert not out.exists()


def test_eval_missing_model_names_it(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    proc = run_abel("eval", "--model", str(tmp_path / "absent-model"), "--benchmarks", "math500", "--limit", "1",
                    "--data-dir", str(data_dir), "--output", str(out))
    assert proc.returncode == 2
    assert f"--model: {tmp_path / 'absent-model'} is not a model directory (no config.json)" in proc.stderr
    assert "Traceback" not in proc.stderr and not out.exists()


def test_eval_never_writes_into_a_dvc_tracked_output(tiny_model: Path, data_dir: Path, tmp_path: Path) -> None:
    """Outputs, inputs (code, notebooks, data) and the data folder are all refused, before any model loads
    (in a copy of the checkout's params.yaml and dvc.yaml: a regression cannot write into this repo)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("params.yaml", "dvc.yaml"):
        (repo / name).write_bytes((REPO / name).read_bytes())
    for target in ("outputs/generations", "outputs/scored/ours/x", "outputs", "src/abel/scoring", "notebooks",
                   "data/published/abel_readme.yaml", str(data_dir / "gsm8k")):
        proc = run_abel("eval", "--model", str(tiny_model), "--benchmarks", "gsm8k", "--limit", "1",
                        "--data-dir", str(data_dir), "--output", target, cwd=repo)
        assert proc.returncode == 2 and "a pipeline output or input DVC tracks" in proc.stderr, (target, proc.stderr)
    assert sorted(p.name for p in repo.iterdir()) == ["dvc.yaml", "params.yaml"]


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed here")
def test_eval_vllm_backend_absent_is_the_backends_clear_error(tiny_model: Path, data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    proc = run_abel("eval", "--model", str(tiny_model), "--benchmarks", "gsm8k", "--limit", "1", "--backend", "vllm",
                    "--data-dir", str(data_dir), "--output", str(out), env={"ABEL_VLLM_VENV": str(tmp_path / "none")})
    assert proc.returncode == 2
    assert "--backend: vllm needs its own environment" in proc.stderr and "abel install-vllm" in proc.stderr
    assert "--backend hf" in proc.stderr
    assert "Traceback" not in proc.stderr and not out.exists()


# --- `abel score`: interval and tag breakdown ----------------------------------------------------------------

def test_score_prints_wilson_interval_and_tag_breakdown(tmp_path: Path) -> None:
    src = write_rows(tmp_path / "in.jsonl", [
        {"response": "#### 5", "gold": "5", "tags": {"level": 1, "subject": "Algebra"}},
        {"response": "#### 4", "gold": "5", "tags": {"level": 1, "subject": "Geometry"}},
        {"response": "#### 7", "gold": "7", "tags": {"level": 2, "subject": "Algebra"}},
        {"response": "#### 7", "gold": "7", "tags": {"level": 2}},
    ])
    proc = run_abel("score", str(src))
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    lo, hi = wilson_interval(3, 4)
    assert (report["correct"], report["n"], report["ci"]) == (3, 4, 0.95)
    assert report["ci_lo"] == pytest.approx(lo) and report["ci_hi"] == pytest.approx(hi)
    assert f"accuracy 75.0% (3 of 4, strict mode), 95% Wilson interval [{100 * lo:.1f}%, {100 * hi:.1f}%]" in proc.stderr
    assert [(g["value"], g["n"], g["correct"]) for g in report["by_tag"]["level"]] == [(1, 2, 1), (2, 2, 2)]
    assert [(g["value"], g["n"], g["correct"]) for g in report["by_tag"]["subject"]] == [
        ("Algebra", 2, 2), ("Geometry", 1, 0), (None, 1, 1)]
    geometry = report["by_tag"]["subject"][1]
    assert (geometry["ci_lo"], geometry["ci_hi"]) == pytest.approx(wilson_interval(0, 1))
    lines = [line.split() for line in proc.stderr.splitlines()]
    assert ["by", "level:"] in lines and ["by", "subject:"] in lines
    assert ["Geometry", "1", "0", "0.0", "[0.0,", f"{100 * wilson_interval(0, 1)[1]:.1f}]"] in lines
    assert ["1", "2", "1", "50.0", "[9.5,", "90.5]"] in lines
    # rows without tags: no breakdown
    plain = run_abel("score", str(write_rows(tmp_path / "plain.jsonl", [{"response": "#### 1", "gold": "1"}])), "--quiet")
    assert "by_tag" not in json.loads(plain.stdout) and plain.stderr == ""


def test_compare_refuses_a_format_not_in_compare_formats_before_starting(tmp_path: Path) -> None:
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    (tmp_path / "params.yaml").write_text("compare:\n  formats: [answer_only, stepwise]\n")
    proc = run_abel("compare", "--format", "original", cwd=tmp_path)
    assert proc.returncode == 2
    assert "abel compare: compare.formats: 'original' is not one of them (answer_only, stepwise)" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dvc.yaml", "params.yaml"]  # nothing made
    proc = run_abel("compare", "--format", "bare", cwd=tmp_path)
    assert proc.returncode == 2 and "invalid choice: 'bare'" in proc.stderr



def test_compare_formats_are_the_configs() -> None:
    from typing import get_args

    from abel.cli import COMPARE_FORMATS
    from abel.config import FormatName

    assert COMPARE_FORMATS == list(get_args(FormatName))
