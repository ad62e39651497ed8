"""The fetch stage's download path, end to end against the shared data served over HTTP on loopback
(the same URL paths as the pinned sources, under a base-URL override), and its mirror path."""

from __future__ import annotations

import functools
import hashlib
import io
import json
import re
import tarfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import get_args

import pytest

from abel import artifacts as A
from abel.config import MIRROR_ENV, ParamsError, SourceName, check_data_dir, data_mirror, parse_params
from abel.data import registry, sources
from abel.data import fetch as F
from abel.stages import fetch as stage


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def _math_train_archive(data_dir: Path) -> bytes:
    """The pinned repository's archive as far as MATH train goes: one JSON file per problem, rebuilt
    from the assembled file (unique_id names the file; the four original keys are its content)."""
    buf = io.BytesIO()
    pin = F.PINNED["math/train.jsonl"]
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for line in (data_dir / pin.path).read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            _, subject, name = row.pop("unique_id").split("/")
            blob = json.dumps(row, indent=4).encode()
            info = tarfile.TarInfo(f"agents-{pin.commit}/{pin.source}/{subject}/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
        readme = tarfile.TarInfo(f"agents-{pin.commit}/README.md")  # other members are skipped
        readme.size = 2
        tar.addfile(readme, io.BytesIO(b"hi"))
    return buf.getvalue()


@pytest.fixture(scope="module")
def served_tree(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """<host>/<path> of every pinned URL, holding the shared data's bytes (links) and the MATH archive."""
    tree = tmp_path_factory.mktemp("served")
    for pin in F.PINS:
        target = tree / re.sub(r"^https://", "", pin.url)
        target.parent.mkdir(parents=True, exist_ok=True)
        if pin.assemble:
            target.write_bytes(_math_train_archive(data_dir))
        else:
            target.symlink_to(data_dir / pin.path)
    return tree


@pytest.fixture
def server(served_tree: Path):
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(served_tree)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def test_pins_are_commits_and_cover_every_file_the_pipeline_reads() -> None:
    for pin in F.PINS:
        assert re.fullmatch(r"[0-9a-f]{40}", pin.commit) and pin.commit in pin.url, pin.path
        assert re.fullmatch(r"[0-9a-f]{64}", pin.sha256), pin.path
        assert pin.licence, pin.path
    files = {b.file for b in registry.benchmarks().values() if b.file}
    files |= {sources.TRAIN_SOURCES[s].local for s in get_args(SourceName) if s in sources.TRAIN_SOURCES}
    assert files <= set(F.PINNED), sorted(files - set(F.PINNED))
    for spec in sources.TRAIN_SOURCES.values():
        assert spec.remote == F.PINNED[spec.local].url, spec.name
    # the registry's canonical remotes are the pinned URLs (MATH train: assembled, see its pin)
    for bench in registry.benchmarks().values():
        if bench.file:
            assert bench.remote == F.PINNED[bench.file].url, bench.name


def test_the_base_url_override_keeps_the_url_path() -> None:
    pin = F.PINNED["gsm8k/test.jsonl"]
    assert F.fetch_url(pin.url, "") == pin.url
    assert F.fetch_url(pin.url, "http://127.0.0.1:9/") == ("http://127.0.0.1:9/raw.githubusercontent.com/"
                                                          f"openai/grade-school-math/{pin.commit}/"
                                                          "grade_school_math/data/test.jsonl")


def test_download_end_to_end(server: str, tmp_path: Path, data_dir: Path) -> None:
    dest = tmp_path / "data" / "sources"
    done = F.fetch(dest, None, base_url=server)
    assert {d.path for d in done} == set(F.PINNED) and {d.origin for d in done} == {"network"}
    for pin in F.PINS:
        assert (dest / pin.path).read_bytes() == (data_dir / pin.path).read_bytes(), pin.path
    # MATH train was assembled from the 7,500 problem files and reached the pinned hash
    math = dest / "math/train.jsonl"
    assert F.sha256_file(math) == F.PINNED["math/train.jsonl"].sha256
    assert _leftovers(dest.parent) == []
    # run again: everything is in place with its hash, nothing is fetched
    assert {d.origin for d in F.fetch(dest, None, base_url="http://127.0.0.1:9")} == {"kept"}


def test_a_corrupted_download_is_a_mismatch_and_writes_nothing(served_tree: Path, server: str, tmp_path: Path,
                                                                 data_dir: Path) -> None:
    pin = F.PINNED["gsm8k/test.jsonl"]
    served = served_tree / re.sub(r"^https://", "", pin.url)
    good = served.read_bytes()
    bad = good.replace(b"Janet", b"Janey", 1)
    served.unlink()
    served.write_bytes(bad)
    try:
        dest = tmp_path / "data" / "sources"
        with pytest.raises(F.FetchError) as err:
            F.fetch(dest, None, base_url=server)
        message = str(err.value)
        assert "gsm8k/test.jsonl" in message and pin.sha256 in message
        assert hashlib.sha256(bad).hexdigest() in message
        assert not dest.exists() and _leftovers(dest.parent) == []
        # a folder already there is left exactly as it was
        dest.mkdir()
        (dest / "old.txt").write_text("old")
        with pytest.raises(F.FetchError):
            F.fetch(dest, None, base_url=server)
        assert [p.name for p in dest.iterdir()] == ["old.txt"] and _leftovers(dest.parent) == []
    finally:
        served.unlink()
        served.symlink_to(data_dir / pin.path)


def test_an_unreachable_server_lists_every_file_and_both_fixes(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dest = tmp_path / "sources"
    with pytest.raises(F.FetchError) as err:
        F.fetch(dest, tmp_path / "no-mirror", base_url=f"http://127.0.0.1:{port}", timeout=5)
    message = str(err.value)
    for pin in F.PINS:
        assert f"{pin.path}  <-  {pin.url}" in message
    assert "connect to the internet" in message and MIRROR_ENV in message and "data.mirror" in message
    assert "refused" in message.lower() and "no-mirror does not exist" in message
    assert not dest.exists() and _leftovers(tmp_path) == []


def test_the_mirror_goes_through_the_same_checksums(tmp_path: Path, data_dir: Path) -> None:
    dest = tmp_path / "sources"
    done = F.fetch(dest, data_dir, network=False)
    assert {d.origin for d in done} == {"mirror"} and F.complete(dest)
    # a mirror with one changed file: the mismatch names it, nothing is written
    mirror = tmp_path / "mirror"
    for pin in F.PINS:
        (mirror / pin.path).parent.mkdir(parents=True, exist_ok=True)
        (mirror / pin.path).symlink_to(data_dir / pin.path)
    svamp = mirror / "svamp/SVAMP.json"
    svamp.unlink()
    svamp.write_bytes((data_dir / "svamp/SVAMP.json").read_bytes() + b"\n")
    out = tmp_path / "out"
    with pytest.raises(F.FetchError, match=r"svamp/SVAMP.json: sha256 mismatch .*expected 5be777"):
        F.fetch(out, mirror, network=False)
    assert not out.exists()
    # missing from the mirror and no network: one message naming each missing file and its URL
    svamp.unlink()
    (mirror / "math/train.jsonl").unlink()
    with pytest.raises(F.FetchError) as err:
        F.fetch(out, mirror, network=False)
    message = str(err.value)
    assert message.startswith("2 of 18 data files could not be had")
    assert F.PINNED["math/train.jsonl"].url in message and F.PINNED["svamp/SVAMP.json"].url in message
    assert "gsm8k/test.jsonl" not in message and not out.exists()


def test_an_incomplete_math_archive_is_refused() -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        blob = b'{"problem": "p", "level": "Level 1", "type": "Algebra", "solution": "\\\\boxed{1}"}'
        info = tarfile.TarInfo(f"agents-x/{F.PINNED['math/train.jsonl'].source}/algebra/1.json")
        info.size = len(blob)
        tar.addfile(info, io.BytesIO(blob))
    buf.seek(0)
    with pytest.raises(F.FetchError, match="holds 1 problem files"):
        F.math_train_from_archive(buf)


def test_the_stage_uses_the_mirror_param_and_the_environment(tmp_path: Path, data_dir: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    params = parse_params({"data": {"mirror": str(data_dir)}})
    assert params.data.dir == A.SOURCES
    check_data_dir(params, tmp_path)  # data/sources does not exist yet: the fetch stage makes it
    rows = stage.run(params, tmp_path, progress=False, network=False)
    assert {r["origin"] for r in rows} == {"mirror"}
    assert all(r["present"] for r in stage.load(tmp_path))
    # the default mirror, relative to the repo root, is simply not used when absent
    assert data_mirror(parse_params({}), tmp_path) == (tmp_path / "../shared/data").resolve()
    assert data_mirror(parse_params({"data": {"mirror": ""}}), tmp_path) is None
    # the environment wins, and must name a folder
    monkeypatch.setenv(MIRROR_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(ParamsError, match=f"\\${MIRROR_ENV}: .*nowhere does not exist"):
        data_mirror(params, tmp_path)
    monkeypatch.setenv(MIRROR_ENV, str(data_dir / "svamp/SVAMP.json"))
    with pytest.raises(ParamsError, match="is not a folder"):
        data_mirror(params, tmp_path)
    monkeypatch.setenv(MIRROR_ENV, "")
    assert data_mirror(params, tmp_path) is None


def test_abel_fetch_command(tmp_path: Path, data_dir: Path) -> None:
    """`abel fetch` (the dvc stage's command) in a checkout: the mirror param, then offline with no mirror."""
    import os
    import subprocess
    import sys

    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    (tmp_path / "params.yaml").write_text(f"data:\n  mirror: {data_dir}\n")
    env = {k: v for k, v in os.environ.items() if k not in (MIRROR_ENV, F.BASE_URL_ENV)}
    run = lambda *args: subprocess.run([sys.executable, "-m", "abel.cli", "fetch", *args], cwd=tmp_path,  # noqa: E731
                                       capture_output=True, text=True, env=env, timeout=120)
    proc = run()
    assert proc.returncode == 0, proc.stderr
    assert "18 files in data/sources, sha256 checked (18 mirror)" in proc.stdout
    assert F.complete(tmp_path / A.SOURCES)
    assert "(18 kept)" in run("--offline").stdout
    (tmp_path / A.SOURCES / "gsm8k/test.jsonl").write_text("changed\n")  # no longer complete: fetched again
    proc = run("--offline", "--mirror", "")
    assert proc.returncode == 2 and "18 of 18 data files could not be had" in proc.stderr
    assert "network use is off" in proc.stderr and "Fix it either way" in proc.stderr
    assert (tmp_path / A.SOURCES / "gsm8k/test.jsonl").read_text() == "changed\n"  # left as it was


def test_the_curate_download_path_assembles_math_train(server: str, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """curate.download fetches a missing training source through the same pins: MATH train is assembled."""
    monkeypatch.setenv(F.BASE_URL_ENV, server)
    path = sources.resolve(sources.TRAIN_SOURCES["math"], tmp_path / "data", tmp_path / "raw")
    assert path == tmp_path / "raw/math/train.jsonl" and F.sha256_file(path) == F.PINNED["math/train.jsonl"].sha256
    assert sorted(p.name for p in path.parent.iterdir()) == ["train.jsonl"]
