"""Curation: each filter on hand-made records, the three formats, decontamination, determinism."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from abel.io import read_jsonl

from abel.config import CurateParams, ParamsError, parse_params
from abel.curation import filters, formats
from abel.curation.pipeline import CurationError, curate
from abel.data.sources import TRAIN_SOURCES, BadRecord, Record, SourceError, resolve
from abel.scoring.runner import score_rows


def rec(rid: str, question: str, rationale: str = "2 + 3 = 5", answer: str = "5", kind: str = "numeric",
        source: str = "gsm8k", **tags) -> Record:
    return Record(rid, source, question, rationale, answer, kind, tags)


# ---- a tiny data directory with planted problems ----
GOOD = {"question": "Tom has 2 apples and buys 3 more. How many apples does he have?",
        "answer": "He has 2 + 3 = <<2+3=5>>5 apples.\n#### 5"}


@pytest.fixture
def tiny_data(tmp_path: Path, data_dir: Path) -> Path:
    root = tmp_path / "data"
    (root / "gsm8k").mkdir(parents=True)
    rows = [
        GOOD,
        {"question": "", "answer": "x\n#### 1"},                                           # malformed: empty
        {"question": "Sam has 4 pens and loses 1. How many pens are left now?", "answer": "4 - 1 = 3\n#### 30"},  # unverified
        {"question": "Tom has 2 apples and buys 3 more.  How many apples does he have?", "answer": GOOD["answer"]},  # dup
        {"question": "Ann reads 10 pages a day for 7 days. How many pages in total does she read?",
         "answer": "10 * 7 = <<10*7=70>>70\n#### 70"},
    ]
    (root / "gsm8k" / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    # one planted contamination: a GSM8K test question copied into train
    test_q = json.loads((data_dir / "gsm8k" / "test.jsonl").read_text().split("\n")[0])
    with (root / "gsm8k" / "train.jsonl").open("a") as fh:
        fh.write(json.dumps({"question": test_q["question"], "answer": test_q["answer"]}) + "\n")
    (root / "gsm8k" / "test.jsonl").write_text((data_dir / "gsm8k" / "test.jsonl").read_text())
    return root


def cfg(**kw) -> CurateParams:
    base = dict(sources={"gsm8k": 1.0}, max_records=0, val_fraction=0.0, tokenizer="whitespace", download=False,
                decontaminate_against=["gsm8k"])
    return CurateParams(**{**base, **kw})


def test_funnel_counts_each_filter(tiny_data: Path, tmp_path: Path) -> None:
    report = curate(cfg(), tiny_data, tmp_path, progress=False)
    funnel = report["funnel"]["gsm8k"]
    assert funnel["read"] == 6 and funnel["malformed"] == 1 and funnel["unverified"] == 1
    assert funnel["duplicate"] == 1 and funnel["contaminated"] == 1 and funnel["kept"] == 2
    assert report["malformed"][0]["line"] == 2 and report["malformed"][0]["field"] == "question"
    hits = read_jsonl(tmp_path / "reports/curation/contamination.jsonl")
    # GSM8K ids count from 0, as in Abel's released files
    assert hits == [{"train_id": "gsm8k/6", "test_set": "gsm8k", "test_id": "0", "overlap": 1.0, "method": "exact"}]


def test_filters_switch_off(tiny_data: Path, tmp_path: Path) -> None:
    report = curate(cfg(verify_answer=False, dedupe=False, decontaminate=False), tiny_data, tmp_path, progress=False)
    assert report["funnel"]["gsm8k"]["kept"] == 5


def test_on_bad_record_error_names_file_line_field(tiny_data: Path, tmp_path: Path) -> None:
    with pytest.raises(CurationError, match=r"train\.jsonl:2: field 'question': missing or empty"):
        curate(cfg(on_bad_record="error"), tiny_data, tmp_path, progress=False)
    assert not (tmp_path / "data" / "curated").exists()


def test_length_limit(tiny_data: Path, tmp_path: Path) -> None:
    curate(cfg(max_tokens=0, decontaminate=False), tiny_data, tmp_path / "all", progress=False)
    rows = read_jsonl(tmp_path / "all/data/curated/train.jsonl")
    lengths = sorted(len((r["prompt"] + r["target"]).split()) for r in rows)
    assert lengths[-1] > lengths[0]
    report = curate(cfg(max_tokens=lengths[-1] - 1, decontaminate=False), tiny_data, tmp_path, progress=False)
    assert report["funnel"]["gsm8k"]["too_long"] == lengths.count(lengths[-1])
    assert report["funnel"]["gsm8k"]["kept"] == len(rows) - lengths.count(lengths[-1])


def test_determinism_byte_identical(tiny_data: Path, tmp_path: Path) -> None:
    outs = []
    for run in ("a", "b"):
        curate(cfg(val_fraction=0.3, seed=7), tiny_data, tmp_path / run, progress=False)
        outs.append([(tmp_path / run / "data/curated" / f).read_bytes() for f in ("train.jsonl", "val.jsonl")]
                    + [(tmp_path / run / "reports/curation/report.json").read_bytes()])
    assert outs[0] == outs[1]


def test_verify_answer_cases() -> None:
    assert filters.verify_answer(rec("a", "q", "It takes 120/24 = 5 hours to read 120 pages.", "5")) == ""
    assert "answer is 25" in filters.verify_answer(rec("b", "q", "it is $0.25 more per can", "25"))
    assert filters.verify_answer(rec("c", "q", "so the answer is (B).", "C", kind="choice")) != ""


def test_near_duplicates_and_exact() -> None:
    base = ("A farmer has 12 cows and 7 horses and sells 3 cows at the market on Monday morning. Later he buys "
            "4 goats and 2 sheep from his neighbour, then gives 1 horse to his sister. How many animals remain?")
    records = [rec("1", base), rec("2", base.replace("Monday", "Tuesday")), rec("3", base.upper().lower()),
               rec("4", "Completely different: what is the sum of the first ten positive odd integers today?")]
    drops = {d.record_id: d.reason for d in filters.near_duplicates(records, threshold=0.7)}
    assert drops == {"3": "duplicate", "2": "near_duplicate"}


def test_provenance_catches_template_derived_records() -> None:
    record = rec("gsm_symbolic/0/1", "Completely rephrased question with 7 numbers", source="gsm_symbolic")
    hits = filters.contamination([record], {"gsm8k": [("1", "unrelated text " * 5)]}, 13, 0.5,
                                 lambda r: ("gsm8k",))
    assert [(h.test_set, h.method) for h in hits] == [("gsm8k", "provenance")]


def test_procedural_source_is_dropped_by_decontamination(data_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(CurationError, match="no training records left"):
        curate(cfg(sources={"gsm_symbolic": 1.0}, procedural_size=50), data_dir, tmp_path, progress=False)
    report = json.loads((tmp_path / "reports/curation/report.json").read_text()) if (
        tmp_path / "reports/curation/report.json").exists() else None
    assert report is None  # nothing half-written when the stage fails


@pytest.mark.parametrize("fmt", ["answer_only", "original", "stepwise"])
def test_formats_end_in_a_scorer_readable_answer(fmt: str) -> None:
    r = rec("g", "q", "Half of 48 is 48/2 = <<48/2=24>>24.\nSo 24 + 1 = <<24+1=25>>25.", "25")
    text = formats.render(r, fmt)
    assert text.endswith("#### 25")
    assert "<<" not in text
    assert "<<48/2=24>>" in formats.render(r, "original", keep_calculator=True)
    if fmt == "stepwise":
        assert text.splitlines()[0].startswith("1. ") and "[Final solution]" in text


def test_scorer_recovers_gold_from_every_curated_target(data_dir: Path, tmp_path: Path) -> None:
    for fmt in ("stepwise", "answer_only"):
        curate(cfg(sources={"gsm8k": 1.0, "math": 1.0, "tal_scq5k": 1.0}, format=fmt, decontaminate=False,
                   dedupe=False, max_records=1500), data_dir, tmp_path / fmt, progress=False)
        rows = read_jsonl(tmp_path / fmt / "data/curated/train.jsonl")
        for kind in ("numeric", "latex", "choice"):
            sub = [{"response": r["target"], "gold": r["answer"]} for r in rows if r["kind"] == kind]
            assert sub, kind
            verdicts, summary = score_rows(sub, "strict", kind=kind, progress=False)
            failed = [(s["gold"], v["pred"], v["reason"]) for s, v in zip(sub, verdicts) if not v["correct"]]
            assert failed == [], f"{fmt}/{kind}: {failed[:5]}"


def test_missing_source_offline_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ABEL_DATA_BASE_URL", "http://127.0.0.1:9")  # nothing listens there
    spec = TRAIN_SOURCES["gsm8k"]
    with pytest.raises(SourceError) as err:
        resolve(spec, tmp_path / "data", tmp_path / "raw")
    message = str(err.value)
    assert "no local copy at" in message and "data.dir" in message and "127.0.0.1:9" in message
    assert not (tmp_path / "raw" / spec.local).exists()
    with pytest.raises(SourceError, match="download is off"):
        resolve(spec, tmp_path / "data", None)


def test_real_sources_normalize(data_dir: Path) -> None:
    from abel.data.sources import read_source

    for name in ("gsm8k", "math", "tal_scq5k"):
        items = [r for _, r in read_source(TRAIN_SOURCES[name], data_dir / TRAIN_SOURCES[name].local)]
        good = [r for r in items if isinstance(r, Record)]
        assert len(good) >= 0.99 * len(items)
        assert all(r.question and r.rationale and r.answer for r in good)
    bad = [r for _, r in read_source(TRAIN_SOURCES["math"], data_dir / "math/train.jsonl") if isinstance(r, BadRecord)]
    assert len(bad) == 2 and all(b.field == "solution" for b in bad)  # the two empty \boxed{} in MATH train


def test_curate_params_validation() -> None:
    with pytest.raises(ParamsError, match="curate: Value error, at least one source"):
        parse_params({"curate": {"sources": {"gsm8k": 0.0}}})
    with pytest.raises(ParamsError, match="curate.sources.gsm9k"):
        parse_params({"curate": {"sources": {"gsm9k": 1.0}}})
    with pytest.raises(ParamsError, match="curate.format"):
        parse_params({"curate": {"format": "verbose"}})


def test_smollm2_tokenizer_counts_tokens() -> None:
    from abel.curation.tokens import token_counter

    count = token_counter("smollm2")
    assert count(["Question:\nJanet has 3 apples.\nAnswer:\n"]) == [14]


def test_missing_source_is_downloaded_from_its_url(tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real download path (the pinned URL, sha256 checked), against an HTTP server on loopback
    serving the shared GSM8K train file under that URL's path."""
    import functools
    import http.server
    import threading

    from abel.data.fetch import PINNED

    spec = TRAIN_SOURCES["gsm8k"]
    served = tmp_path / "served" / PINNED[spec.local].url.removeprefix("https://")
    served.parent.mkdir(parents=True)
    served.write_bytes(b"{}\n")  # first a wrong file: refused, nothing kept
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "served"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("ABEL_DATA_BASE_URL", f"http://127.0.0.1:{server.server_address[1]}")
    try:
        with pytest.raises(SourceError, match="sha256 mismatch"):
            resolve(spec, tmp_path / "data", tmp_path / "raw")
        assert not (tmp_path / "raw" / spec.local).exists()
        served.write_bytes((data_dir / spec.local).read_bytes())
        path = resolve(spec, tmp_path / "data", tmp_path / "raw")
        assert path == tmp_path / "raw" / "gsm8k" / "train.jsonl"
        assert path.read_bytes() == served.read_bytes()
        assert resolve(spec, tmp_path / "data", tmp_path / "raw") == path  # cached: no second download
    finally:
        server.shutdown()
        server.server_close()


def test_mixing_ratio_and_curriculum(data_dir: Path, tmp_path: Path) -> None:
    report = curate(cfg(sources={"gsm8k": 3.0, "math": 1.0}, max_records=400, val_fraction=0.1, decontaminate=False,
                        dedupe=False, curriculum="easy_to_hard"), data_dir, tmp_path, progress=False)
    assert report["funnel"]["gsm8k"]["selected"] == 300 and report["funnel"]["math"]["selected"] == 100
    assert report["train"] == 360 and report["val"] == 40
    from abel.curation.pipeline import difficulty
    from abel.data.sources import Record as R

    rows = read_jsonl(tmp_path / "data/curated/train.jsonl")
    keys = [difficulty(R(r["id"], r["source"], r["question"], r["rationale"], r["answer"], r["kind"], r["tags"]))
            for r in rows]
    assert keys == sorted(keys) and keys[0] < keys[-1]


def test_exact_duplicates_keep_operators() -> None:
    records = [rec("1", "Compute 2 + 3."), rec("2", "Compute 2 - 3."), rec("3", "compute  2 + 3.")]
    drops = {d.record_id: d.reason for d in filters.near_duplicates(records, threshold=0.9)}
    # 2 - 3 is not a copy of 2 + 3 (the word-shingle MinHash may still call it a near duplicate)
    assert drops.get("3") == "duplicate" and drops.get("2") != "duplicate"


def test_short_questions_are_decontaminated_by_exact_match() -> None:
    # 3 words: no 13-gram exists, so only the exact match can catch the copy
    records = [rec("a", "Compute 4 - 1."), rec("b", "Compute 4 + 1.")]
    hits = filters.contamination(records, {"chain_sum": [("7", "compute 4 - 1.")]}, 13, 0.5, lambda r: ())
    assert [(h.train_id, h.test_id, h.method) for h in hits] == [("a", "7", "exact")]


def test_chain_sum_source_never_trains_on_its_benchmark(tmp_path: Path) -> None:
    from abel.data import registry

    report = curate(cfg(sources={"chain_sum": 1.0}, procedural_size=3000, decontaminate_against=["chain_sum"]),
                    tmp_path, tmp_path, progress=False)
    funnel = report["funnel"]["chain_sum"]
    assert funnel["read"] == 3000 and funnel["unverified"] == 0 and funnel["contaminated"] > 0
    test_questions = {item.question for item in registry.load("chain_sum", tmp_path)}
    train = read_jsonl(tmp_path / "data/curated/train.jsonl") + read_jsonl(tmp_path / "data/curated/val.jsonl")
    assert train and not {r["question"] for r in train} & test_questions
    # every target's steps recompute the gold answer; the scorer reads it back
    verdicts, _ = score_rows([{"response": r["target"], "gold": r["answer"]} for r in train], "strict",
                             timeout_s=1.0, workers=1, progress=False)
    assert all(v["correct"] for v in verdicts)
