"""Every file the pipeline reads, from its canonical public source at a pinned revision.

``PINS`` is the one table: for each file under the data folder (the layout of ``../shared/data``, see
its ``MANIFEST.md``), the repository, the commit, the path in it, its sha256 and its licence. ``fetch``
fills a folder with all of them, all or nothing:

* from a local mirror (a folder laid out the same way), when it holds the file; otherwise
* from the network, at the pinned commit (``https://raw.githubusercontent.com/<repo>/<commit>/<path>``).
  MATH train is the one file no source holds whole: it is assembled from the 7,500 per-problem JSON
  files of the original MATH release (``ASSEMBLE_MATH_TRAIN``), read from the repository's archive at
  the pinned commit.

Every file, mirror or network, is checked against its pinned sha256 before anything is written into
the destination: the files are gathered in a sibling folder and moved in place only when all of them
are there and match. A mismatch stops with the file, the expected and the actual hash; files that
cannot be had (no mirror copy, no network) are listed together, each with its URL and both fixes.

``ABEL_DATA_BASE_URL`` (tests, or a caching proxy) rewrites ``https://<host>/<path>`` to
``<base>/<host>/<path>``.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from abel.config import MIRROR_ENV
from abel.io import replace_dir, sha256_file

BASE_URL_ENV = "ABEL_DATA_BASE_URL"
TIMEOUT_S = 60.0


class FetchError(RuntimeError):
    """A file could not be had, or did not match its pinned sha256; the message says which and how to fix it."""


@dataclass(frozen=True)
class Pin:
    path: str  # under the data folder
    repo: str  # GitHub owner/name
    commit: str  # full commit id, never a branch
    source: str  # path in the repository at that commit (for an assembled file: the folder it is built from)
    sha256: str
    size: int
    licence: str
    assemble: str = ""  # "" = the file as it is in the repository; else the name of the rule building it

    @property
    def url(self) -> str:
        """The canonical URL this file comes from (for an assembled file: the repository archive at the commit)."""
        if self.assemble:
            return f"https://codeload.github.com/{self.repo}/tar.gz/{self.commit}"
        return f"https://raw.githubusercontent.com/{self.repo}/{self.commit}/{self.source}"

    @property
    def page(self) -> str:
        """Where a person can see the source at the pinned commit."""
        kind = "tree" if self.assemble else "blob"
        return f"https://github.com/{self.repo}/{kind}/{self.commit}/{self.source}"


_GSM8K = ("openai/grade-school-math", "3101c7d5072418e28b9008a6636bde82a006892c")
_HARNESS = ("ZubinGou/math-evaluation-harness", "db77bc6bb2a17c90ed2d63e88ebd8c40a82858c5")
_TAL = ("math-eval/TAL-SCQ5K", "8a66d6e14c65ba002beda39747e6b7c43bd2d472")
_ABEL = ("GAIR-NLP/abel", "3a24ef24e9ea32708fe4fa4c36bf504a74b4bdf0")
_MATH_TRAIN_DIR = "src/agents/datasets/data/math/train"
_HARNESS_LICENCE = "MIT (ZubinGou/math-evaluation-harness repo)"
_ABEL_LICENCE = ("none stated (GAIR-NLP/abel has no LICENSE; the Abel-7B/13B-001 checkpoints that wrote "
                 "these are under the Llama 2 licence)")

PINS: tuple[Pin, ...] = (
    Pin("gsm8k/train.jsonl", *_GSM8K, "grade_school_math/data/train.jsonl",
        "17f347dc51477c50d4efb83959dbb7c56297aba886e5544ee2aaed3024813465", 4166206, "MIT"),
    Pin("gsm8k/test.jsonl", *_GSM8K, "grade_school_math/data/test.jsonl",
        "3730d312f6e3440559ace48831e51066acaca737f6eabec99bccb9e4b3c39d14", 749738, "MIT"),
    Pin("gsm8k/test_socratic.jsonl", *_GSM8K, "grade_school_math/data/test_socratic.jsonl",
        "c96673362fa7a699f4836a9b6474a067448f95fe58064727501ee63ba4c3fdb6", 972978, "MIT"),
    Pin("math/test.jsonl", *_HARNESS, "data/math/test.jsonl",
        "3371949f33dd702d04b43fddd7d53a028de0aaca0e76abb1b875a050297b3aa4", 4101364,
        _HARNESS_LICENCE + "; MATH itself: MIT"),
    Pin("math/train.jsonl", "aiwaves-cn/agents", "e8c4e3c2d19739d3dff59e577d1c97090cc15f59", _MATH_TRAIN_DIR,
        "00aa30008a611172529ab775ed6f3af9efd32974625b19181c3ebfc724134e52", 6849298,
        "MATH: MIT (hendrycks/math); source repo aiwaves-cn/agents: Apache-2.0", assemble="math_train"),
    Pin("math500/test.jsonl", *_HARNESS, "data/math_oai/test.jsonl",
        "35dc41080a3680858b27fa7e0533d2d547825316fc5dafe5d316f4ccc5a06132", 446564,
        _HARNESS_LICENCE + "; the PRM800K split: MIT; MATH: MIT"),
    Pin("svamp/SVAMP.json", "arkilpatel/SVAMP", "689d7ccac74b9983a2ac7cc3b264f441b99e7c53", "SVAMP.json",
        "5be77703a6d891ae476d7c082787ad361392aa02453b132516cdd5f4e7934e3e", 339970, "MIT"),
    Pin("asdiv/test.jsonl", *_HARNESS, "data/asdiv/test.jsonl",
        "5759580385e706f961a30d4c07d6925b35c3f7c86d6c50bc413957169693dad2", 613636,
        _HARNESS_LICENCE + "; ASDiv itself: CC BY-NC 4.0 (non-commercial)"),
    Pin("mawps/test.jsonl", *_HARNESS, "data/mawps/test.jsonl",
        "00ffe31161be8623a3d36741830edbba87a3aee0109f693810fe40b9d5d91b8b", 402636,
        _HARNESS_LICENCE + "; the PAL subsets: Apache-2.0; MAWPS itself states none"),
    Pin("mathqa/test.jsonl", *_HARNESS, "data/mathqa/test.jsonl",
        "136de4608366708d01d4c38890437e722c9209e9a66ef5d119cb01f6f88dfec6", 700852,
        _HARNESS_LICENCE + "; MathQA: Apache-2.0 (its HF dataset card)"),
    Pin("gsm_hard/gsmhardv2.jsonl", "reasoning-machines/pal", "f81ca2a9777f002f98a6b4d0f10b61bd5c8feb02",
        "datasets/gsmhardv2.jsonl", "2032b0188a49ac0ec38cbe1e695e7d62d6dddc44bbb64f920728aca710e9ddef", 1138151,
        "Apache-2.0"),
    Pin("gsm_plus/gsmplus_testmini.jsonl", "qtli/GSM-Plus", "3474129ec12fcd3e8ac08cb037aca1928efca98c",
        "dataset/gsmplus_testmini.jsonl", "6653b4b941956da12ba0af2eae660800db13a901123553b163b77be2d20eb7d5", 3128556,
        "none stated (no LICENSE in qtli/GSM-Plus)"),
    Pin("tal_scq5k_en/en_single_choice_test_2K.jsonl", *_TAL,
        "en_single_choice_constructed_5K/en_single_choice_test_2K.jsonl",
        "9847f03c7a28941fda5605c0641c7fa38d692edcbd6d436ba4b5823ec529b839", 1601554, "MIT"),
    Pin("tal_scq5k_en/en_single_choice_train_3K.jsonl", *_TAL,
        "en_single_choice_constructed_5K/en_single_choice_train_3K.jsonl",
        "dc74f7c0537743cad5b4f145fddeb4b689e4c54ecf5c5e26acf9d247e8b21013", 3020884, "MIT"),
    Pin("abel_outputs/outputs/gsm8k/7b.jsonl", *_ABEL, "outputs/gsm8k/7b.jsonl",
        "7a262e37425799300720db1b947e9a7f06b53b4820a355323f5ac297331c783a", 1820361, _ABEL_LICENCE),
    Pin("abel_outputs/outputs/gsm8k/13b.jsonl", *_ABEL, "outputs/gsm8k/13b.jsonl",
        "468ca9dd156162a08afcfab64a8b064b3e72b7784938e7178ecf02c88ca53b1c", 1848918, _ABEL_LICENCE),
    Pin("abel_outputs/outputs/gsm8k_robust/7b.jsonl", *_ABEL, "outputs/gsm8k_robust/7b.jsonl",
        "576798df3ef89d6eec656c353b3de8da0573e22af7d6699831f27c2ab90c2a11", 1841135, _ABEL_LICENCE),
    Pin("abel_outputs/outputs/gsm8k_robust/13b.jsonl", *_ABEL, "outputs/gsm8k_robust/13b.jsonl",
        "d0b49f8cdd8e8aafcaa1e3105d06ac5c40622d50e20530844ec325d38b55d45f", 1851077, _ABEL_LICENCE),
)
PINNED = {pin.path: pin for pin in PINS}

# MATH train, as ../shared/data/MANIFEST.md builds it: the 7,500 files <subject>/<n>.json of the
# original release, sorted by subject folder then by number, one json.dumps(ensure_ascii=False) line
# each, with unique_id "train/<subject>/<n>.json" added after the original four keys.
MATH_TRAIN_COUNT = 7500
_MATH_MEMBER = re.compile(r"[^/]+/" + re.escape(_MATH_TRAIN_DIR) + r"/([a-z_]+)/(\d+)\.json")


def assemble_math_train(members: dict[tuple[str, int], bytes]) -> bytes:
    """The MATH train JSONL from {(subject, number): the problem file's bytes}."""
    lines = []
    for subject, number in sorted(members):
        row = json.loads(members[(subject, number)].decode("utf-8"))
        row["unique_id"] = f"train/{subject}/{number}.json"
        lines.append(json.dumps(row, ensure_ascii=False) + "\n")
    return "".join(lines).encode("utf-8")


def math_train_from_archive(stream: io.BufferedIOBase) -> bytes:
    """Assemble MATH train from the repository's tar.gz archive, read as a stream."""
    members: dict[tuple[str, int], bytes] = {}
    with tarfile.open(fileobj=stream, mode="r|gz") as tar:
        for member in tar:
            match = _MATH_MEMBER.fullmatch(member.name)
            if match and member.isfile():
                fh = tar.extractfile(member)
                assert fh is not None
                members[(match.group(1), int(match.group(2)))] = fh.read()
    if len(members) != MATH_TRAIN_COUNT:
        raise FetchError(f"math/train.jsonl: the archive holds {len(members)} problem files under "
                         f"{_MATH_TRAIN_DIR}/, not {MATH_TRAIN_COUNT}")
    return assemble_math_train(members)


_ASSEMBLERS: dict[str, Callable[[io.BufferedIOBase], bytes]] = {"math_train": math_train_from_archive}


def fetch_url(url: str, base_url: str | None = None) -> str:
    """The URL actually requested: ``url``, or under ``base_url`` (default: $ABEL_DATA_BASE_URL) when set."""
    base = base_url if base_url is not None else os.environ.get(BASE_URL_ENV, "")
    if not base:
        return url
    return base.rstrip("/") + "/" + re.sub(r"^https?://", "", url)


@dataclass(frozen=True)
class Fetched:
    path: str
    origin: str  # "mirror", "network" or "kept" (already in place with the pinned hash)
    where: str  # the mirror file or the URL


def complete(dest: Path, pins: tuple[Pin, ...] = PINS) -> bool:
    """Whether ``dest`` already holds every pinned file, each with its pinned size and sha256."""
    for pin in pins:
        path = dest / pin.path
        if not path.is_file() or path.stat().st_size != pin.size or sha256_file(path) != pin.sha256:
            return False
    return True


def _mismatch(pin: Pin, actual: str, where: str, origin: str) -> FetchError:
    fix = ("replace the mirror's copy, or remove it to download the file" if origin == "mirror" else
           f"the server did not give the file at the pinned commit ({pin.page}); check ${BASE_URL_ENV} or any proxy")
    return FetchError(f"{pin.path}: sha256 mismatch for the copy from {where}: expected {pin.sha256}, got {actual}. "
                      f"Nothing was written. Fix: {fix}.")


def _download(pin: Pin, target: Path, base_url: str | None, timeout: float) -> str:
    url = fetch_url(pin.url, base_url)
    request = urllib.request.Request(url, headers={"User-Agent": "abel-fetch"})
    with urllib.request.urlopen(request, timeout=timeout) as resp:
        if pin.assemble:
            target.write_bytes(_ASSEMBLERS[pin.assemble](resp))
        else:
            with target.open("wb") as out:
                shutil.copyfileobj(resp, out, 1 << 20)
    return url


def fetch_one(pin: Pin, target: Path, *, base_url: str | None = None, timeout: float = TIMEOUT_S) -> None:
    """Download one pinned file to ``target`` (atomically: nothing at ``target`` unless its sha256 matches).
    FetchError when it cannot be had or does not match."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        try:
            where = _download(pin, tmp, base_url, timeout)
        except (urllib.error.URLError, OSError, TimeoutError, tarfile.TarError) as exc:
            reason = str(getattr(exc, "reason", None) or exc)
            raise FetchError(f"{pin.path}: downloading {fetch_url(pin.url, base_url)} failed ({reason})") from None
        actual = sha256_file(tmp)
        if actual != pin.sha256:
            raise _mismatch(pin, actual, where, "network")
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)


def fetch(dest: Path, mirror: Path | None = None, *, base_url: str | None = None, network: bool = True,
          timeout: float = TIMEOUT_S, pins: tuple[Pin, ...] = PINS,
          progress: Callable[[str], None] | None = None) -> list[Fetched]:
    """Fill ``dest`` with every pinned file (mirror first, then the network), all checked, all or nothing.

    ``dest`` is replaced only when every file is had and matches; on any error it is left as it was.
    """
    say = progress or (lambda _msg: None)
    if dest.is_dir() and complete(dest, pins):
        return [Fetched(pin.path, "kept", str(dest / pin.path)) for pin in pins]
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.fetch-", dir=dest.parent))
    try:
        done: list[Fetched] = []
        missing: list[tuple[Pin, str]] = []
        offline_reason = "" if network else "network use is off"
        for pin in pins:
            target = staging / pin.path
            target.parent.mkdir(parents=True, exist_ok=True)
            local = mirror / pin.path if mirror is not None else None
            if local is not None and local.is_file():
                shutil.copyfile(local, target)
                origin, where = "mirror", str(local)
            elif offline_reason:
                missing.append((pin, offline_reason))
                continue
            else:
                say(f"downloading {pin.path} from {fetch_url(pin.url, base_url)}")
                try:
                    where = _download(pin, target, base_url, timeout)
                except urllib.error.HTTPError as exc:  # the server answered: only this file is missing
                    missing.append((pin, f"HTTP {exc.code} {exc.reason}"))
                    continue
                except (urllib.error.URLError, OSError, TimeoutError, tarfile.TarError) as exc:
                    reason = str(getattr(exc, "reason", None) or exc)
                    missing.append((pin, reason))
                    if isinstance(exc, (urllib.error.URLError, TimeoutError)) or "timed out" in reason:
                        offline_reason = f"not tried: {reason}"  # unreachable: do not wait once per file
                    continue
                origin = "network"
            actual = sha256_file(target)
            if actual != pin.sha256:
                raise _mismatch(pin, actual, where, origin)
            done.append(Fetched(pin.path, origin, where))
        if missing:
            raise FetchError(_missing_message(missing, mirror, dest))
        replace_dir(staging, dest)
        return done
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _missing_message(missing: list[tuple[Pin, str]], mirror: Path | None, dest: Path) -> str:
    where = ("no mirror" if mirror is None else f"the mirror {mirror}" if mirror.is_dir()
             else f"the mirror {mirror} does not exist")
    lines = [f"{len(missing)} of {len(PINS)} data files could not be had ({where}, then the network); nothing "
             f"was written to {dest}:"]
    lines += [f"  {pin.path}  <-  {pin.url}  ({reason})" for pin, reason in missing]
    lines += ["Fix it either way:",
              "  - connect to the internet and run again (`abel fetch`, or `dvc repro fetch`); or",
              f"  - point the mirror at a folder laid out like ../shared/data holding these files: "
              f"params.yaml data.mirror, or `{MIRROR_ENV}=/path/to/data abel fetch`."]
    return "\n".join(lines)
