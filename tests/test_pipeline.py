"""The DVC pipeline in a temp copy of the repo (tests/pipeline.py): what `dvc repro` made, a no-op re-run,
params mistakes, the notebooks and plots, a DVC remote. Killed runs: tests/test_pipeline_kill.py;
`dvc exp run -S` and the vLLM backend: tests/test_pipeline_exp.py. The three modules copy one
finished run (the ``finished_pipeline`` fixture), so they run side by side under pytest-xdist.
"""

from __future__ import annotations

import json
import re
import os
import subprocess
from pathlib import Path

import pytest

from abel.io import read_jsonl
import yaml

from tests.pipeline import BIN, copy_of, run as _run

pytestmark = pytest.mark.slow


def test_repro_reproduces_the_paper_table(repo_copy: Path) -> None:
    summary = json.loads((repo_copy / "metrics/released/score_summary.json").read_text())
    assert round(100 * summary["gsm8k/7b/abel"]["accuracy"], 2) == 59.74
    assert round(100 * summary["gsm8k/13b/abel"]["accuracy"], 2) == 66.41
    assert round(100 * summary["gsm8k_robust/7b/abel"]["accuracy"], 2) == 58.23
    assert round(100 * summary["gsm8k_robust/13b/abel"]["accuracy"], 2) == 66.57
    metric = json.loads((repo_copy / "metrics/released/gsm8k__7b.json").read_text())
    assert metric["abel"]["ci_lo"] < metric["abel"]["accuracy"] < metric["abel"]["ci_hi"]
    robustness = json.loads((repo_copy / "metrics/released/robustness.json").read_text())
    assert {(r["model"], r["mode"]) for r in robustness} == {("7b", "abel"), ("7b", "strict"),
                                                              ("13b", "abel"), ("13b", "strict")}
    for stem in ("robustness_abel", "robustness_strict", "accuracy_by_steps_strict"):
        for ext in ("png", "svg"):
            assert (repo_copy / f"figures/released/{stem}.{ext}").stat().st_size > 1000
    assert "| 7B | abel |" in (repo_copy / "reports/released/robustness.md").read_text()
    # curate: real curated data, funnel report and figures
    train = read_jsonl(repo_copy / "data/curated/train.jsonl")
    report = json.loads((repo_copy / "reports/curation/report.json").read_text())
    assert len(train) == report["train"] > 0
    assert set(report["funnel"]) == {"gsm8k", "math"}
    assert (repo_copy / "figures/curation/funnel.png").stat().st_size > 1000
    # sft: a real 2-process DeepSpeed run on the curated data, its curves and its model
    sft = json.loads((repo_copy / "metrics/sft/summary.json").read_text())
    assert (sft["profile"], sft["model"], sft["world_size"], sft["zero_stage"]) == ("tiny", "tiny", 2, 2)
    assert sft["train_loss_final"] < sft["train_loss_first"] and sft["val_loss_final"] < sft["val_loss_first"]
    assert sft["steps_with_shared_examples"] == 0
    assert (repo_copy / "models/sft/model.safetensors").is_file()
    assert (repo_copy / "figures/sft/loss.svg").stat().st_size > 1000
    assert sum(1 for _ in (repo_copy / "metrics/sft/train.csv").open()) == sft["steps"] + 1
    # generate -> score -> analyze on the fine-tuned tiny model (tiny profile: 10 benchmarks)
    gen = json.loads((repo_copy / "metrics/generate/summary.json").read_text())
    assert gen["model"] == "models/sft" and gen["backend"] == "hf"
    assert {k: v["responses"] for k, v in gen["benchmarks"].items()} == {
        "gsm8k": 16, "gsm8k_robust": 16, "math500": 8, "svamp": 8, "gsm_plus": 8, "gsm_hard": 8,
        "gsm_symbolic_base": 8, "gsm_symbolic_names": 8, "gsm_symbolic_numbers": 8, "gsm_symbolic_both": 8}
    ours = json.loads((repo_copy / "metrics/ours/accuracy.json").read_text())
    # provenance and run facts live beside the metrics, never in them
    record = lambda stage: json.loads((repo_copy / f"outputs/provenance/{stage}.json").read_text())  # noqa: E731
    prov = record("analyze")
    assert len(prov["commit"]) == 40 and prov["profile"] == "tiny" and prov["versions"]["torch"].startswith("2.13.0")
    assert prov["hardware"]["cpu_count"] >= 1 and set(prov["params_hash"]) == {"analyze"}
    assert record("sft")["seeds"] == {"sft": 0, "curate": 0} and record("generate")["versions"]["deepspeed"]
    assert record("sft")["run"]["tokens_per_s"] > 0 and record("sft")["run"]["resumes"] == 0
    from abel.training.allocator import find_tcmalloc

    assert record("sft")["run"]["allocator"] == ("tcmalloc" if find_tcmalloc() else "system")  # both ranks' (auto)
    assert record("generate")["run"]["seconds"] >= 0 and record("generate")["run"]["generated_now"] == 96
    for stage in ("score", "overfit"):
        assert record(stage)["commit"] == prov["commit"]
    for path in sorted((repo_copy / "metrics").rglob("*.json")):
        text = path.read_text()
        assert not any(k in text for k in ('"provenance"', '"commit"', '"seconds"', '"tokens_per_s"', '"resumes"', '"allocator"')), path
    assert "tokens_per_s" not in (repo_copy / "metrics/sft/train.csv").read_text()
    assert set(ours) == {f"{b}/sft/{m}" for b in gen["benchmarks"] for m in ("abel", "strict")}
    assert all(0 <= r["ci_lo"] <= r["accuracy"] <= r["ci_hi"] <= 1 and r["n"] == gen["benchmarks"][r["benchmark"]]["responses"]
               for r in ours.values())
    by_tag = json.loads((repo_copy / "metrics/ours/by_tag.json").read_text())
    assert {"math500", "gsm_plus"} <= {r["benchmark"] for r in by_tag} <= set(gen["benchmarks"]) - {"gsm8k"}
    rob = json.loads((repo_copy / "metrics/ours/robustness.json").read_text())
    assert {(r["perturbed"], r["mode"], r["n_paired"]) for r in rob} == {
        (p, m, 16 if p == "gsm8k_robust" else 8) for m in ("abel", "strict")
        for p in ("gsm8k_robust", "gsm_symbolic_names", "gsm_symbolic_numbers", "gsm_symbolic_both")}
    # the overfit stage: every saved checkpoint, training and test questions
    over = json.loads((repo_copy / "metrics/sft/overfit.json").read_text())
    assert {r["split"] for r in over["rows"]} == {"train", "test"} and max(r["step"] for r in over["rows"]) == sft["steps"]
    mem = json.loads((repo_copy / "metrics/ours/memorization.json").read_text())
    assert sum(r["n"] for r in mem["rows"]) == sum(v["responses"] for v in gen["benchmarks"].values())
    # the curation comparison: a run per format (the arith profile, whatever the active one), paired on the same questions
    cmp = json.loads((repo_copy / "metrics/comparison.json").read_text())
    assert [r["format"] for r in cmp["runs"]] == ["answer_only", "original", "stepwise"]
    assert all((r["n"], r["steps"], r["benchmark"]) == (30, 12, "chain_sum") for r in cmp["runs"])
    assert [(p["base"], p["other"]) for p in cmp["pairs"]] == [("answer_only", "original"), ("answer_only", "stepwise"),
                                                              ("original", "stepwise")]
    for fmt in ("answer_only", "original", "stepwise"):
        run = json.loads((repo_copy / f"metrics/compare/{fmt}.json").read_text())
        assert run["profile"] == "arith" and run["format"] == fmt and {r["step"] for r in run["curve"]} == {6, 12}
        assert read_jsonl(repo_copy / f"outputs/compare/{fmt}/data/curated/train.jsonl")[0]["tags"] is not None
        assert json.loads((repo_copy / f"outputs/compare/{fmt}/provenance.json").read_text())["commit"] == prov["commit"]
    for stem in ("accuracy", "curves"):
        assert (repo_copy / f"figures/comparison/{stem}.png").stat().st_size > 1000


def test_report_numbers_equal_the_metrics_files_they_cite(repo_copy: Path) -> None:
    from abel.report.assemble import Ledger, referenced_images

    report = (repo_copy / "reports/report.md").read_text()
    ledger = json.loads((repo_copy / "reports/report_sources.json").read_text())
    assert len(ledger) > 50 and "(tiny profile)" in report and "can and cannot show" in report
    fresh = Ledger(repo_copy)  # reads each cited file again (JSON, YAML, or a Markdown file's tables)
    for entry in ledger:
        node = fresh.value(entry["file"], tuple(entry["path"]))
        assert node == entry["value"] and entry["format"].format(node) == entry["text"], entry
        assert entry["text"] in report, entry
    images = referenced_images(report)
    # released robustness, accuracy by steps, curation funnel, the comparison (2), the ablation, SFT loss, overfit,
    # our robustness
    assert len(images) == 9, images
    for rel in images:
        assert (repo_copy / "reports" / rel).stat().st_size > 1000, rel
    html = (repo_copy / "reports/report.html").read_text()
    assert html.count("data:image/png;base64") == len(images)
    # nothing is fetched from elsewhere: no script, no stylesheet link, no remote src (citation links are fine)
    assert "<script" not in html and "<link" not in html and not re.search(r"src=[\"']?(https?:)?//", html)


def test_second_repro_is_a_no_op(repo_copy: Path) -> None:
    out = _run([str(BIN / "dvc"), "repro"], repo_copy).stdout
    assert "didn't change, skipping" in out and "Running stage" not in out


def test_a_fresh_clone_pulls_the_tiny_run_over_ssh_and_has_nothing_to_do(repo_copy: Path, sshd, tmp_path: Path) -> None:
    """The finished tiny pipeline (a copy of it, committed) pushed to an SSH remote (tests/sshd.py) and pulled
    into a fresh clone: ``dvc status`` is clean, ``dvc repro`` does nothing, and the report re-made from the
    pulled files alone is byte-identical."""
    from tests.test_remote import _dvc, _git, use_ssh_remote

    home = tmp_path / "home"
    home.mkdir()
    origin = tmp_path / "origin"
    copy_of(repo_copy, origin)
    _git(origin, "add", "-A")
    _git(origin, "commit", "-qm", "tiny run")
    assert "up to date" in _dvc(origin, home, "status").stdout
    store = tmp_path / "store"
    use_ssh_remote(origin, home, sshd, store)
    _dvc(origin, home, "push")
    # every checkpoint overfit reads went up with the run
    manifest = json.loads((origin / "metrics/sft/checkpoints.json").read_text())
    assert len(manifest["checkpoints"]) >= 2
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(origin), str(clone)], check=True)
    use_ssh_remote(clone, home, sshd, store)
    _dvc(clone, home, "pull")
    assert not (clone / "checkpoints").exists()  # the training run's resume state is not needed
    assert "up to date" in _dvc(clone, home, "status").stdout
    repro = _dvc(clone, home, "repro").stdout
    assert "Running stage" not in repro, repro
    # the report, re-made from the pulled files alone (nothing trained or generated), byte for byte
    before = {p: (clone / p).read_bytes() for p in ("reports/report.md", "reports/report.html", "metrics/headline.json")}
    _run([str(BIN / "dvc"), "repro", "--force", "--single-item", "report"], clone)
    assert not (clone / "checkpoints").exists()
    for path, data in before.items():
        assert (clone / path).read_bytes() == data, path
        assert (origin / path).read_bytes() == data, path


def _params_edit(raw: dict, key: str) -> None:
    section, _, name = key.partition(".")
    if key == "scoring":
        raw["scoring"] = {"timeout_s": 2}  # an unknown top-level section
    elif key == "profile":
        raw["profile"] = "nope"
    elif key == "data.dir":
        raw["data"]["dir"] = "/nowhere/at/all"
    elif key == "analyze.robustness_pairs":
        raw["analyze"]["robustness_pairs"] = [["gsm8k", "gsm8k_robustt"]]  # a misspelled benchmark
    elif key == "curate.val_fraction":
        raw["curate"]["val_fraction"] = 1.5  # out of range
    else:
        raw[section][name] = "fast"  # wrong type


def test_a_params_mistake_stops_before_any_stage_output_is_touched(repo_copy: Path) -> None:
    """The `params` stage runs first and fails: every other stage's outputs, DVC-cached or kept in git
    (metrics, figures), stay exactly as they were, and the message names the key."""
    watched = ["models/sft/model.safetensors", "metrics/sft/summary.json", "metrics/sft/train.csv",
               "figures/sft/loss.svg", "outputs/generations/gsm8k.jsonl", "metrics/ours/accuracy.json",
               "reports/report.md", "data/curated/train.jsonl"]
    before = {rel: (repo_copy / rel).read_bytes() for rel in watched}
    original = (repo_copy / "params.yaml").read_text()
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}
    try:
        for key in ("sft.lr", "curate.val_fraction", "scoring", "profile", "data.dir", "analyze.robustness_pairs"):
            raw = yaml.safe_load(original)
            _params_edit(raw, key)
            (repo_copy / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
            proc = subprocess.run([str(BIN / "dvc"), "repro"], cwd=repo_copy, env=env, capture_output=True, text=True,
                                  timeout=300)
            said = proc.stdout + proc.stderr
            assert proc.returncode != 0 and "failed to reproduce 'params'" in said, said
            assert key in said and "Running stage 'curate'" not in said, said
            for rel, data in before.items():
                assert (repo_copy / rel).read_bytes() == data, f"{key}: {rel} was touched"
    finally:
        (repo_copy / "params.yaml").write_text(original)
    out = _run([str(BIN / "dvc"), "repro"], repo_copy).stdout
    assert "Running stage" not in out.replace("Running stage 'params'", ""), out  # params restored: nothing re-runs
    # an inactive profile's edit re-runs only the params stage, whose resolved view stays the same
    raw = yaml.safe_load(original)
    raw["profiles"]["paper"]["sft"]["lr"] = 1.0e-5
    (repo_copy / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    try:
        out = _run([str(BIN / "dvc"), "repro"], repo_copy).stdout
    finally:
        (repo_copy / "params.yaml").write_text(original)
    assert "Running stage 'params'" in out and "Running stage" not in out.replace("Running stage 'params'", ""), out
    _run([str(BIN / "dvc"), "repro"], repo_copy)


def test_notebooks_opened_in_jupyterlab_show_outputs_without_recomputing(repo_copy: Path, tmp_path: Path) -> None:
    """Each stage notebook, run top to bottom with its default parameters (as in JupyterLab), reads
    what `dvc repro` produced: no stage output changes, so DVC still sees the pipeline up to date."""
    import papermill

    for nb in sorted((repo_copy / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        # the notebook's own kernel (`abel`, registered by make install), as JupyterLab starts it
        ran = papermill.execute_notebook(str(nb), str(tmp_path / nb.name), cwd=str(repo_copy), progress_bar=False)
        assert ran.metadata.kernelspec.name == "abel"
        outputs = [o for c in ran.cells for o in c.get("outputs", [])]
        stderr = [o.get("text", "") for o in outputs if o.output_type == "stream" and o.name == "stderr"]
        assert not stderr, f"{nb.name} shows a stderr block: {stderr[0][:300]}"
        shown = [o for o in outputs if "image/png" in o.get("data", {})]
        as_text = [o for o in outputs if "<Figure size" in str(o.get("data", {}).get("text/plain", ""))
                   and "image/png" not in o.get("data", {})]
        assert not as_text, f"{nb.name} shows a figure as text instead of an image"
        if "display(fig)" in nb.read_text():
            assert shown, f"{nb.name} displays figures but shows no image"
    out = _run([str(BIN / "dvc"), "status"], repo_copy).stdout
    assert "Data and pipelines are up to date" in out, out


def test_dvc_plots_show_is_offline(repo_copy: Path, tmp_path: Path) -> None:
    """`dvc plots show` renders through the template with vega inlined (npm, pinned), never a CDN."""
    _run([str(BIN / "abel"), "plots-template"], repo_copy)
    _run([str(BIN / "dvc"), "plots", "show", "-o", str(tmp_path / "plots")], repo_copy)
    html = (tmp_path / "plots" / "index.html").read_text()
    # one chart of both loss curves (dvc.yaml's top-level `plots`), titled
    assert "vegaEmbed('#sft_loss'" in html and "SFT loss (training and validation)" in html
    assert html.count("vegaEmbed(") == 1
    assert not re.search(r"<script[^>]*\bsrc=", html) and "cdn.jsdelivr" not in html


