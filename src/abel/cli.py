"""The ``abel`` console script."""

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
    from abel.scoring import score_rows
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
    print(json.dumps(summary.to_dict()))
    return 0


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="abel", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

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
    stage.add_argument("--kernel", default="python3", help="Jupyter kernel (default: python3 of this environment)")
    stage.add_argument("--quiet", action="store_true", help="no papermill progress bar")
    stage.set_defaults(func=_cmd_stage)

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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
