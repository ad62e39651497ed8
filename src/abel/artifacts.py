"""Every file the stages exchange, named once (paths relative to the repo root).

A stage reads what earlier stages wrote and writes its own outputs; nothing else passes between
them. ``STAGE_DEPS`` and ``STAGE_OUTS`` list, per stage, the artifacts ``dvc.yaml`` must declare
(``tests/test_layers.py`` checks the two agree in both directions; the code each stage runs is
checked separately, against its import closure). Paths under ``data.dir`` (the benchmark files and
Abel's released generations; by default ``SOURCES``, the fetch stage's output) are the data registry's
business, not this module's.
"""

from __future__ import annotations

# fetch: every benchmark file and Abel's released generations, from their pinned sources (abel.data.fetch);
# the default data.dir, laid out like ../shared/data
SOURCES = "data/sources"

# params: the active profile's view of params.yaml, the one params file every stage tracks
PARAMS_RESOLVED = "outputs/params.resolved.yaml"

# curate
CURATED = "data/curated"
CURATED_TRAIN = f"{CURATED}/train.jsonl"
CURATED_VAL = f"{CURATED}/val.jsonl"
CURATION_REPORTS = "reports/curation"
CURATION_REPORT = f"{CURATION_REPORTS}/report.json"
CURATION_MD = f"{CURATION_REPORTS}/report.md"
CURATION_FIGURES = "figures/curation"

# sft
SFT_MODEL = "models/sft"
# every complete checkpoint of the run, model files only, one step-<step>/ folder each (a DVC output), and
# their list with sizes and sha256 (kept in git): what the overfit stage reads
SFT_CHECKPOINTS = "models/sft_checkpoints"
SFT_METRICS = "metrics/sft"
SFT_SUMMARY = f"{SFT_METRICS}/summary.json"
SFT_TRAIN_CSV = f"{SFT_METRICS}/train.csv"
SFT_VAL_CSV = f"{SFT_METRICS}/val.csv"
SFT_FIGURES = "figures/sft"
SFT_CHECKPOINT_MANIFEST = f"{SFT_METRICS}/checkpoints.json"

# generate
GENERATIONS = "outputs/generations"
GENERATE_SUMMARY = "metrics/generate/summary.json"

# overfit
OVERFIT_METRICS = f"{SFT_METRICS}/overfit.json"
OVERFIT_RESPONSES = "outputs/overfit/responses.jsonl"
OVERFIT_FIGURES = "figures/overfit"

# score
SCORED_RELEASED = "outputs/scored/released"
SCORED_OURS = "outputs/scored/ours"
RELEASED_METRICS = "metrics/released"
OURS_METRICS = "metrics/ours"
RELEASED_SCORE_SUMMARY = f"{RELEASED_METRICS}/score_summary.json"
OURS_SCORE_SUMMARY = f"{OURS_METRICS}/score_summary.json"

# analyze
PUBLISHED = "data/published/abel_readme.yaml"
# the vLLM environment's lock (abel install-vllm): what generate.backend: vllm runs; in the generation run key
VLLM_LOCK = "requirements-vllm.lock"
RELEASED_REPORTS = "reports/released"
RELEASED_FIGURES = "figures/released"
RELEASED_ROBUSTNESS = f"{RELEASED_METRICS}/robustness.json"
RELEASED_BY_CHANGE = f"{RELEASED_METRICS}/robustness_by_change.json"
RELEASED_BY_STEPS = f"{RELEASED_METRICS}/accuracy_by_steps.json"
RELEASED_ACCURACY = tuple(f"{RELEASED_METRICS}/{b}__{m}.json" for b in ("gsm8k", "gsm8k_robust") for m in ("7b", "13b"))
OURS_ACCURACY = f"{OURS_METRICS}/accuracy.json"
OURS_BY_TAG = f"{OURS_METRICS}/by_tag.json"
OURS_ROBUSTNESS = f"{OURS_METRICS}/robustness.json"
OURS_SAMPLING = f"{OURS_METRICS}/sampling.json"
OURS_MEMORIZATION = f"{OURS_METRICS}/memorization.json"
OURS_REPORTS = "reports/ours"
OURS_FIGURES = "figures/ours"

# report
REPORT_MD = "reports/report.md"
REPORT_HTML = "reports/report.html"
REPORT_SOURCES = "reports/report_sources.json"
HEADLINE = "metrics/headline.json"

# the curation comparison (notebooks/90_ablation.ipynb, after `make ablation`; not a dvc stage)
ABLATION_MD = "reports/ablation.md"
ABLATION_RUNS = "reports/ablation_runs.json"
ABLATION_FIGURES = "figures/ablation"

# the curation comparison inside `dvc repro`: compare@<format> (a DVC matrix over compare.formats) writes a run
# folder (a DVC output) and its metrics (in git); the comparison stage puts them side by side. Run folders with
# resume state live in COMPARE_CHECKPOINTS/<run key>/, outside DVC
COMPARE_RUNS = "outputs/compare"
COMPARE_METRICS = "metrics/compare"
COMPARE_CHECKPOINTS = "checkpoints/compare"
COMPARE_ITEM = "${item.format}"  # dvc.yaml's name for the matrix entry
COMPARISON_METRICS = "metrics/comparison.json"
COMPARISON_REPORTS = "reports/comparison"
COMPARISON_MD = f"{COMPARISON_REPORTS}/comparison.md"
COMPARISON_FIGURES = "figures/comparison"


def compare_run(fmt: str) -> str:
    """The run folder of the comparison run of ``fmt``."""
    return f"{COMPARE_RUNS}/{fmt}"


def compare_metrics(fmt: str) -> str:
    """The metrics file of the comparison run of ``fmt``."""
    return f"{COMPARE_METRICS}/{fmt}.json"


PROVENANCE_DIR = "outputs/provenance"

OWN_MODEL = "sft"  # the model name our own generations are scored and reported under


def provenance(stage: str) -> str:
    """Where ``stage`` records its provenance and run facts."""
    return f"{PROVENANCE_DIR}/{stage}.json"


def executed_notebook(notebook: str) -> str:
    """Where ``abel stage`` keeps a stage notebook as it ran (``notebooks/NN_x.ipynb`` -> outputs/notebooks/)."""
    return f"outputs/notebooks/{notebook.rsplit('/', 1)[-1]}"


def model_order(model: str) -> tuple[float, str]:
    """Sort key for model names: by size for 7b / 13b / 70b, then by name (other names sort last)."""
    size = model.lower().rstrip("b")
    return (float(size) if size.replace(".", "", 1).isdigit() else float("inf")), model


def metric_key(benchmark: str, model: str, mode: str) -> str:
    """The key of one (benchmark, model, scorer) row in the score and accuracy metrics files."""
    for part in (benchmark, model, mode):
        if "/" in part:
            raise ValueError(f"a metric key part may not contain '/': {part!r}")
    return f"{benchmark}/{model}/{mode}"


def split_metric_key(key: str) -> tuple[str, str, str]:
    """(benchmark, model, mode) of a ``metric_key``."""
    parts = key.split("/")
    if len(parts) != 3:
        raise ValueError(f"not a benchmark/model/mode metric key: {key!r}")
    return parts[0], parts[1], parts[2]


# What dvc.yaml declares per stage, besides code and files under data.dir.
STAGE_DEPS: dict[str, tuple[str, ...]] = {
    "fetch": (),
    "curate": (),
    "sft": (CURATED,),
    "generate": (SFT_MODEL, VLLM_LOCK),
    "overfit": (SFT_CHECKPOINTS, SFT_CHECKPOINT_MANIFEST, SFT_SUMMARY, SFT_TRAIN_CSV, SFT_VAL_CSV, CURATED_TRAIN),
    "score": (GENERATIONS,),
    "analyze": (SCORED_RELEASED, SCORED_OURS, CURATED_TRAIN, PUBLISHED),
    "report": (PUBLISHED, *RELEASED_ACCURACY, RELEASED_ROBUSTNESS, RELEASED_BY_CHANGE, RELEASED_BY_STEPS,
               CURATION_REPORT, SFT_SUMMARY, GENERATE_SUMMARY, OURS_ACCURACY, OURS_MEMORIZATION, OVERFIT_METRICS,
               provenance("analyze"), ABLATION_MD, ABLATION_FIGURES, OVERFIT_FIGURES, RELEASED_FIGURES,
               CURATION_FIGURES, SFT_FIGURES, OURS_FIGURES, COMPARISON_METRICS, COMPARISON_FIGURES),
    "compare": (),
    "comparison": (COMPARE_RUNS, COMPARE_METRICS),
}
STAGE_OUTS: dict[str, tuple[str, ...]] = {
    "params": (PARAMS_RESOLVED,),
    "fetch": (SOURCES,),
    "curate": (CURATED, CURATION_REPORTS, CURATION_FIGURES),
    "sft": (SFT_MODEL, SFT_CHECKPOINTS, SFT_CHECKPOINT_MANIFEST, provenance("sft"), SFT_FIGURES, SFT_SUMMARY, SFT_TRAIN_CSV, SFT_VAL_CSV),
    "generate": (GENERATIONS, provenance("generate"), GENERATE_SUMMARY),
    "overfit": ("outputs/overfit", provenance("overfit"), OVERFIT_FIGURES, OVERFIT_METRICS),
    "score": (SCORED_RELEASED, SCORED_OURS, provenance("score"), RELEASED_SCORE_SUMMARY, OURS_SCORE_SUMMARY),
    "analyze": (provenance("analyze"), RELEASED_FIGURES, RELEASED_REPORTS, RELEASED_ROBUSTNESS, RELEASED_BY_CHANGE,
                RELEASED_BY_STEPS, OURS_BY_TAG, OURS_ROBUSTNESS, OURS_SAMPLING, OURS_MEMORIZATION, OURS_REPORTS,
                OURS_FIGURES, OURS_ACCURACY, *RELEASED_ACCURACY),
    "report": (REPORT_MD, REPORT_HTML, REPORT_SOURCES, HEADLINE),
    "compare": (compare_run(COMPARE_ITEM), compare_metrics(COMPARE_ITEM)),
    "comparison": (COMPARISON_METRICS, COMPARISON_REPORTS, COMPARISON_FIGURES),
}
