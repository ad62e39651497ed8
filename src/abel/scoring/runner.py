"""Score rows of ``response`` + ``gold``: fast paths in-process, the rest in time-limited workers."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from tqdm import tqdm

from abel.scoring import legacy, strict
from abel.scoring.numeric import plain_number
from abel.scoring.pool import paper_scorer_dir, shared_pool

Mode = Literal["abel", "strict"]


@dataclass(frozen=True)
class ScoreSummary:
    mode: str
    n: int
    correct: int
    accuracy: float  # a fraction
    timeouts: int
    errors: int
    seconds: float
    slow_path: int  # answers that needed a worker (sympy / math-verify)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _gold_text(gold: Any) -> str:
    return plain_number(gold) if isinstance(gold, (int, float)) else str(gold)


def score_rows(
    rows: Sequence[dict[str, Any]],
    mode: Mode = "strict",
    *,
    kind: strict.Kind | None = None,
    timeout_s: float = 1.0,
    workers: int = 2,
    memory_mb: int = 4096,
    paper_scorer: Path | None = None,
    progress: bool = True,
    desc: str = "",
) -> tuple[list[dict[str, Any]], ScoreSummary]:
    """Verdicts (``pred``, ``correct``, ``reason``) for each row, and a summary.

    Only ``response`` and ``gold`` are read; a stored ``pred`` / ``result`` is ignored.
    """
    if mode not in ("abel", "strict"):
        raise ValueError(f"unknown scoring mode {mode!r} (expected 'abel' or 'strict')")
    start = time.perf_counter()
    verdicts: list[dict[str, Any] | None] = [None] * len(rows)
    slow: list[int] = []
    bar = tqdm(total=len(rows), desc=desc or f"score[{mode}]", disable=not progress, unit="ans", leave=False)
    for i, row in enumerate(rows):
        if not isinstance(row["response"], str) or isinstance(row["gold"], (bool, list, dict)):
            raise ValueError(f"row {i + 1}: 'response' must be a string and 'gold' a string or number")
        response, gold = row["response"], _gold_text(row["gold"])
        if mode == "abel":
            pred = legacy.extract(response)
            fast = legacy.fast_verdict(pred, gold)
            if fast is not None:
                verdicts[i] = {"pred": pred.replace(" ", ""), "correct": fast, "reason": "" if fast else "not equal"}
        else:
            verdict = strict.judge_fast(response, gold, kind)
            if verdict is not None:
                verdicts[i] = {"pred": verdict.pred, "correct": verdict.correct, "reason": verdict.reason}
        if verdicts[i] is None:
            slow.append(i)
        else:
            bar.update()

    timeouts = errors = 0
    if slow:
        scorer_dir = (paper_scorer or paper_scorer_dir()) if mode == "abel" else None
        fn = legacy.judge if mode == "abel" else strict.judge_slow
        args = [(str(rows[i]["response"]), _gold_text(rows[i]["gold"])) for i in slow]
        pool = shared_pool(workers, memory_mb, scorer_dir)
        outcomes = pool.map(fn, args, on_done=bar.update, timeout_s=timeout_s)
        for i, outcome in zip(slow, outcomes):
            if outcome.status == "ok":
                ok, pred, third = outcome.value
                reason = "" if ok else (third if mode == "strict" else "not equivalent")
                verdicts[i] = {"pred": pred, "correct": bool(ok), "reason": reason}
            else:
                timeouts += outcome.status == "timeout"
                errors += outcome.status == "error"
                verdicts[i] = {"pred": None, "correct": False, "reason": f"{outcome.status}: {outcome.error}"}
    bar.close()
    done = [v for v in verdicts if v is not None]
    correct = sum(v["correct"] for v in done)
    summary = ScoreSummary(
        mode=mode, n=len(rows), correct=correct, accuracy=correct / len(rows) if rows else 0.0,
        timeouts=timeouts, errors=errors, seconds=round(time.perf_counter() - start, 3), slow_path=len(slow),
    )
    return done, summary


def correct_by_kind(rows: Sequence[dict[str, Any]], kinds: Sequence[str | None], **kw: Any) -> list[bool]:
    """Strict verdicts for rows of mixed answer kinds (each group scored with its own kind)."""
    out: list[bool] = [False] * len(rows)
    for kind in sorted(set(kinds), key=str):
        idx = [i for i, k in enumerate(kinds) if k == kind]
        verdicts, _ = score_rows([rows[i] for i in idx], "strict", kind=kind, **kw)  # type: ignore[arg-type]
        for i, v in zip(idx, verdicts):
            out[i] = bool(v["correct"])
    return out


def correct_by_gold(score: Any, golds: Sequence[Any], responses: Sequence[str], kinds: Sequence[str | None]) -> list[bool]:
    """Strict verdicts of ``responses`` against ``golds`` with the score section's limits (``score``: ScoreParams:
    CPU time per answer, workers, their memory), no progress bar: model answers judged inside a stage."""
    rows = [{"response": r, "gold": g} for r, g in zip(responses, golds)]
    return correct_by_kind(rows, kinds, timeout_s=score.timeout_s, workers=score.workers, memory_mb=score.worker_memory_mb,
                           progress=False)
