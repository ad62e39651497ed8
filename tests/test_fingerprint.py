"""One content hash for run keys and provenance."""

from __future__ import annotations

from pathlib import Path

import pytest

from abel.config import parse_params
from abel.fingerprint import Code, fingerprint


def test_parts_are_kept_apart_and_order_matters() -> None:
    assert fingerprint("ab", "c") != fingerprint("a", "bc")
    assert fingerprint("a", "b") != fingerprint("b", "a")
    assert fingerprint("1") != fingerprint(1) != fingerprint(b"1")
    assert fingerprint({"x": 1, "y": 2}) == fingerprint({"y": 2, "x": 1})  # canonical JSON
    assert len(fingerprint("x")) == 16 and len(fingerprint("x", length=64)) == 64


def test_params_hash_like_their_json() -> None:
    a, b = parse_params({"sft": {"lr": 1e-4}}).sft, parse_params({"sft": {"lr": 2e-4}}).sft
    assert fingerprint(a) == fingerprint(a.model_dump()) != fingerprint(b)


def test_files_and_folders_hash_their_contents_and_names(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "a.bin").write_bytes(b"\0" * (5 << 20))  # more than one read chunk
    (tmp_path / "m" / "b.txt").write_text("x")
    before = fingerprint(tmp_path / "m")
    assert fingerprint(tmp_path / "m") == before
    (tmp_path / "m" / "b.txt").rename(tmp_path / "m" / "c.txt")
    assert fingerprint(tmp_path / "m") != before  # a renamed file is another model
    (tmp_path / "f").write_bytes(b"x")
    assert fingerprint(tmp_path / "f") != fingerprint(b"x") and fingerprint(tmp_path / "f") != fingerprint("x")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        fingerprint(tmp_path / "missing")


def test_code_parts_follow_the_source() -> None:
    assert fingerprint(Code("abel.fingerprint")) == fingerprint(Code("abel.fingerprint"))
    assert fingerprint(Code("abel.fingerprint")) != fingerprint(Code("abel.io"))
    assert len(Code("abel.training").files()) > 3  # a package: every module in it
    with pytest.raises(ImportError, match="no module"):
        Code("abel.nope").files()
