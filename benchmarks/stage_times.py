"""How long each pipeline stage takes: from papermill's own records, or a timed `dvc repro` of a fresh clone.

    python benchmarks/stage_times.py                 # this checkout's last run of each notebook stage
    python benchmarks/stage_times.py --fresh-clone   # clone HEAD into a temp folder, `dvc repro` it, then
                                                     # `dvc repro` again (the no-op); prints both tables

Records: every notebook stage's executed notebook (``outputs/notebooks/*.ipynb``, a stage output)
carries papermill's ``start_time``, ``end_time`` and ``duration`` of the notebook itself; the stage's
command also starts Python and validates params, which the records do not hold. Stages without a
notebook (``params``, ``fetch``) have no record.

Fresh clone: ``git clone`` of this checkout's HEAD (commit first: uncommitted edits are not in it)
into a temp folder, with this checkout's ``.venv`` and the clone's own ``src/`` first on ``PYTHONPATH``
(so the clone's code runs, not this checkout's), the data mirror passed as an absolute path
(``$ABEL_DATA_MIRROR``: the clone sits elsewhere than ``../shared``), and the clone's own empty
``.cache`` (so DeepSpeed's CPU op is compiled again, as on a new machine, unless ``--warm-ops``
shares this checkout's). Each stage's time is wall clock from DVC's ``Running stage`` line to the
next, read as DVC prints them: it includes DVC hashing and caching the stage's outputs (about 1 GB for
sft), and a stage DVC skips mid-run adds its check to the row before. The total is the whole command. The clone is removed afterwards
(``--keep`` keeps it).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
STAGE_LINE = re.compile(r"^Running stage '([^']+)':")


def notebook_stages(root: Path) -> dict[str, str]:
    """{stage: its executed notebook} from dvc.yaml's outs."""
    out = {}
    for name, stage in yaml.safe_load((root / "dvc.yaml").read_text())["stages"].items():
        for o in stage.get("outs", []):
            path = o if isinstance(o, str) else next(iter(o))
            if path.startswith("outputs/notebooks/") and path.endswith(".ipynb"):
                out[name] = path
    return out


def from_records(root: Path) -> list[tuple[str, float | None, str]]:
    rows = []
    for stage, nb in notebook_stages(root).items():
        path = root / nb
        if not path.is_file():
            rows.append((stage, None, f"{nb} missing (not run here, or not pulled)"))
            continue
        meta = json.loads(path.read_text()).get("metadata", {}).get("papermill", {})
        rows.append((stage, meta.get("duration"), f"{meta.get('start_time', '?')[:19]}  {nb}"))
    return rows


def timed_repro(clone: Path, env: dict[str, str]) -> tuple[float, list[tuple[str, float]], int, str]:
    """Run `dvc repro` in ``clone``; (total s, [(stage, s)], exit code, last lines)."""
    starts: list[tuple[str, float]] = []
    tail: list[str] = []
    t0 = time.perf_counter()
    proc = subprocess.Popen(["dvc", "repro"], cwd=clone, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, errors="replace")
    assert proc.stdout is not None
    for line in proc.stdout:
        m = STAGE_LINE.match(line)
        if m:
            starts.append((m.group(1), time.perf_counter()))
            print(f"  [{time.perf_counter() - t0:7.1f} s] {m.group(1)}", file=sys.stderr, flush=True)
        tail = (tail + [line.rstrip()])[-30:]
    code = proc.wait()
    total = time.perf_counter() - t0
    ends = [t for _, t in starts[1:]] + [t0 + total]
    # DVC's own start (and the stages it skips as unchanged) before the first stage runs
    before = [("(dvc start, unchanged stages)", (starts[0][1] if starts else t0 + total) - t0)]
    return total, before + [(name, end - start) for (name, start), end in zip(starts, ends)], code, "\n".join(tail)


def fresh_clone(args: argparse.Namespace) -> int:
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.strip()
    if dirty:
        print("note: this checkout has uncommitted changes; the clone has HEAD only", file=sys.stderr)
    mirror = Path(args.mirror or os.environ.get("ABEL_DATA_MIRROR") or ROOT.parent / "shared" / "data").resolve()
    if not mirror.is_dir():
        sys.exit(f"stage_times: no data mirror at {mirror} (--mirror DIR, or $ABEL_DATA_MIRROR)")
    venv_bin = ROOT / ".venv" / "bin"
    if not (venv_bin / "dvc").is_file():
        sys.exit(f"stage_times: {venv_bin / 'dvc'} missing: run `make install` first")
    parent = Path(tempfile.mkdtemp(prefix="abel-stage-times-"))
    clone = parent / "main"
    try:
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
        (clone / ".venv").symlink_to(ROOT / ".venv")
        cache = clone / ".cache"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DVC_", "JUPYTER_", "VIRTUAL_ENV"))}
        env |= {"PATH": f"{venv_bin}{os.pathsep}{env.get('PATH', '')}", "DVC_NO_ANALYTICS": "1",
                # the venv's editable install points at this checkout's src/: the clone's own comes first
                "PYTHONPATH": os.pathsep.join(p for p in (str(clone / "src"), env.get("PYTHONPATH")) if p),
                "ABEL_DATA_MIRROR": str(mirror), "MPLCONFIGDIR": str(cache / "matplotlib"),
                "JUPYTER_CONFIG_DIR": str(cache / "jupyter/config"), "JUPYTER_DATA_DIR": str(cache / "jupyter/data"),
                "JUPYTER_RUNTIME_DIR": str(cache / "jupyter/runtime"), "IPYTHONDIR": str(cache / "ipython"),
                "HF_HOME": str(cache / "huggingface"), "XDG_CACHE_HOME": str(cache),
                "TORCH_EXTENSIONS_DIR": str((ROOT if args.warm_ops else clone) / ".cache/torch_extensions")}
        # the Jupyter kernel the notebooks run on lives in this venv's share/ (make install registers it)
        print(f"fresh clone of {head} in {clone}; mirror {mirror}; DeepSpeed ops "
              f"{'shared with this checkout' if args.warm_ops else 'compiled afresh'}", file=sys.stderr)
        total, stages, code, tail = timed_repro(clone, env)
        if code != 0:
            print(tail, file=sys.stderr)
            print(f"stage_times: dvc repro failed (exit {code}) after {total:.1f} s; clone kept at {clone}", file=sys.stderr)
            args.keep = True
            return 1
        noop, _, code2, tail2 = timed_repro(clone, env)
        if code2 != 0:
            print(tail2, file=sys.stderr)
            args.keep = True
            return 1
        load = os.getloadavg()[0]
        print(f"\n`dvc repro` of a fresh clone of {head}, {os.cpu_count()} CPUs, "
              f"1-min load average {load:.1f} at the end\n")
        print("| stage | seconds | share |\n|---|---|---|")
        for name, secs in stages:
            print(f"| {name} | {secs:.1f} | {secs / total:.0%} |")
        print(f"| **total** (whole command) | **{total:.1f}** ({total / 60:.1f} min) | |")
        print(f"| no-op `dvc repro` after it | {noop:.2f} | |")
        return 0
    finally:
        if not args.keep:
            shutil.rmtree(parent, ignore_errors=True)
        else:
            print(f"kept: {clone}", file=sys.stderr)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fresh-clone", action="store_true", help="time `dvc repro` of a fresh clone (minutes)")
    ap.add_argument("--mirror", help="data mirror for the clone (default: $ABEL_DATA_MIRROR, else ../shared/data)")
    ap.add_argument("--warm-ops", action="store_true", help="reuse this checkout's compiled DeepSpeed ops")
    ap.add_argument("--keep", action="store_true", help="keep the clone")
    args = ap.parse_args()
    if args.fresh_clone:
        return fresh_clone(args)
    rows = from_records(ROOT)
    print("| stage | notebook seconds (papermill) | started / notebook |\n|---|---|---|")
    for stage, secs, what in rows:
        print(f"| {stage} | {'-' if secs is None else f'{secs:.1f}'} | {what} |")
    done = [s for _, s, _ in rows if s is not None]
    print(f"| **sum** | **{sum(done):.1f}** | {len(done)} of {len(rows)} notebook stages |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
