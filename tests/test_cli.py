"""``abel score`` as a user runs it: JSON on stdout, --output rows, clear errors, nothing half-written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def run_abel(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "abel.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)


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
