"""Generation: batched == one-by-one (left padding), stop strings, kill-safe resume, maj@k / pass@k."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from abel.generation import runner
from abel.generation.hf import HFGenerator, SamplingConfig, truncate_at_stop
from tests.conftest import make_tiny_llama



@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A random-init 2-layer Llama and a byte-level BPE tokenizer trained here (no hub)."""
    path = tmp_path_factory.mktemp("tiny")
    model, tok = make_tiny_llama(path)
    return model, tok, path


def test_batched_greedy_equals_one_by_one(tiny) -> None:
    model, tok, _ = tiny
    prompts = ["Question:\nTom has 3 apples.\nAnswer:\n", "Question:\nHow many?\nAnswer:\n", "Question:\n3 + 2\n"]
    cfg = SamplingConfig(max_new_tokens=12, stop=())
    batched = HFGenerator(model, tok, batch_size=3).generate(prompts, cfg)
    single = [HFGenerator(model, tok, batch_size=1).generate([p], cfg)[0] for p in prompts]
    assert batched == single
    assert all(batched)


def test_stop_strings() -> None:
    assert truncate_at_stop("#### 5\nQuestion: next", ["\nQuestion:"]) == "#### 5"
    assert truncate_at_stop("a STOP b END", ["END", "STOP"]) == "a "
    assert truncate_at_stop("no stop", ["\nQuestion:"]) == "no stop"


def test_stop_strings_against_the_prompt_tail() -> None:
    """Only a stop string that ends inside the response counts: one wholly in the prompt (a one-character
    stop, or a short one beside a long one) must not cut the response; one straddling the boundary cuts
    it to nothing, where transformers stops generating."""
    prompt = "Question:\n1 + 1\nAnswer:\n"
    assert truncate_at_stop("abc\ndef", ["\n"], prompt) == "abc"
    assert truncate_at_stop("abc\ndef", ["\nQuestion:", "\n"], prompt) == "abc"
    assert truncate_at_stop("abc", ["\n"], prompt) == "abc"
    assert truncate_at_stop("Question: 2 + 2", ["\nQuestion:"], prompt) == ""
    assert truncate_at_stop("tion: 2 + 2", ["\nQuestion:"], prompt + "Ques") == ""
    assert truncate_at_stop("#### 2\nQuestion: next", ["\nQuestion:"], prompt) == "#### 2"
    assert truncate_at_stop("#### 2", ["\nQuestion:"], "") == "#### 2"
    assert truncate_at_stop("x", [], prompt) == "x"


def test_generation_respects_stop_strings(tiny) -> None:
    model, tok, _ = tiny
    free = HFGenerator(model, tok).generate(["Question:\n"], SamplingConfig(max_new_tokens=20, stop=()))[0]
    assert len(free) > 4
    stop = free[2:4]
    cut = HFGenerator(model, tok).generate(["Question:\n"], SamplingConfig(max_new_tokens=20, stop=(stop,)))[0]
    assert cut == free[: free.find(stop)]


def _killing_generator(kill_after: int | None, body: str) -> str:
    """A script whose ``generate`` upper-cases prompts, prints each request's size, and SIGKILLs its own
    process at request ``kill_after + 1``; ``body`` (no indent) then runs the runner with it."""
    return textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from abel.generation import runner
        calls = 0
        def generate(prompts):
            global calls
            calls += 1
            if {kill_after!r} is not None and calls > {kill_after!r}:
                os.kill(os.getpid(), signal.SIGKILL)
            print(len(prompts), flush=True)
            return [p.upper() for p in prompts]
    """) + body


def _run_script(path: Path, out: Path, kill_after: int | None) -> str:
    return _killing_generator(kill_after, f"""items = [{{"id": i, "prompt": f"q{{i}}"}} for i in range(10)]
runner.run(items, generate, Path({str(out)!r}), samples=2, batch_size=3, progress=False)
""")


def test_resume_after_sigkill_never_duplicates_or_truncates(tmp_path: Path) -> None:
    out = tmp_path / "gen.jsonl"
    script = tmp_path / "gen.py"
    script.write_text(_run_script(tmp_path, out, kill_after=3))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL
    first = out.read_text().split("\n")
    assert len([line for line in first if line]) == 9  # three finished batches of 3
    with out.open("a") as fh:
        fh.write('{"id": "torn", "sa')  # a write cut short by the kill
    script.write_text(_run_script(tmp_path, out, kill_after=None))
    subprocess.run([sys.executable, str(script)], check=True)
    rows = [json.loads(line) for line in out.read_text().split("\n") if line]
    keys = [(r["id"], r["sample"]) for r in rows]
    assert len(keys) == len(set(keys)) == 20
    assert all(r["response"] == r["prompt"].upper() for r in rows)


def _run_files_script(folder: Path, kill_after: int | None) -> str:
    return _killing_generator(kill_after, f"""files = {{Path({str(folder)!r}) / f"{{name}}.jsonl": [{{"id": i, "prompt": f"{{name}}-q{{i}}"}} for i in range(n)]
         for name, n in (("a", 5), ("b", 1), ("c", 7))}}
print(sorted((path.name, n) for path, n in runner.run_files(files, generate, batch_size=4, progress=False).items()))
""")


def test_run_files_shares_requests_across_files_and_resumes_after_sigkill(tmp_path: Path) -> None:
    """Requests are filled across files (5 + 1 + 7 rows in batches of 4, not 2 + 1 + 1 + 2 per file); each row
    lands in its own file; a kill after the second request, then a re-run, gives every row once."""
    script = tmp_path / "gen.py"
    script.write_text(_run_files_script(tmp_path, kill_after=2))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL and proc.stdout.split() == ["4", "4"]
    assert [len((tmp_path / f"{n}.jsonl").read_text().splitlines()) for n in "abc"] == [5, 1, 2]
    script.write_text(_run_files_script(tmp_path, kill_after=None))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out == ["4", "1", "[('a.jsonl', 0), ('b.jsonl', 0), ('c.jsonl', 5)]"]
    for name, n in (("a", 5), ("b", 1), ("c", 7)):
        rows = [json.loads(line) for line in (tmp_path / f"{name}.jsonl").read_text().splitlines()]
        assert sorted(r["id"] for r in rows) == sorted(str(i) for i in range(n))
        assert all(r["prompt"].startswith(f"{name}-") and r["response"] == r["prompt"].upper() for r in rows)


def test_run_writes_abel_schema(tmp_path: Path) -> None:
    out = tmp_path / "g.jsonl"
    assert runner.run([{"id": 7, "prompt": "p"}], lambda ps: ["#### 1" for _ in ps], out, progress=False) == 1
    assert json.loads(out.read_text()) == {"id": "7", "sample": 0, "prompt": "p", "response": "#### 1"}
    assert runner.run([{"id": 7, "prompt": "p"}], lambda ps: 1 / 0, out, progress=False) == 0  # nothing left


def test_a_resumed_run_says_so_in_one_line(tmp_path, capsys) -> None:
    from abel.generation import runner

    items = [{"id": str(i), "prompt": f"q{i}"} for i in range(3)]
    out = tmp_path / "gsm8k.jsonl"
    runner.run(items[:2], lambda prompts: ["r"] * len(prompts), out, progress=False)
    capsys.readouterr()
    assert runner.run(items, lambda prompts: ["r"] * len(prompts), out, progress=False) == 1
    err = capsys.readouterr().err
    assert f"resuming gsm8k.jsonl: 2 of 3 responses already in {out}, 1 to generate" in err


def test_hf_backend_requests_of_the_same_prompts_sample_different_rows(tiny, tmp_path: Path) -> None:
    """Sampled rows (samples > 1) may reach the backend as two requests of the same prompts (one benchmark
    of batch_size questions): each request seeds from where the last left off, so the second draws new
    samples, not a copy of the first; greedy requests stay identical."""
    from abel.config import GenerateParams
    from abel.generation.backends import hf_backend

    _, _, folder = tiny
    prompts = ["Question:\n", "Question:\nAnswer:"]
    sampled, _ = hf_backend(GenerateParams(model=str(folder), backend="hf", temperature=1.0, max_new_tokens=12,
                                           stop=[], batch_size=2, benchmarks={"gsm8k": 1}), tmp_path)
    first, second = sampled(prompts), sampled(prompts)
    assert first != second
    greedy, _ = hf_backend(GenerateParams(model=str(folder), backend="hf", max_new_tokens=12, stop=[], batch_size=2,
                                          benchmarks={"gsm8k": 1}), tmp_path)
    assert greedy(prompts) == greedy(prompts)
