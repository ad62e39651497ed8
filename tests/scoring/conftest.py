from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def math_corpus(data_dir: Path) -> tuple[dict, ...]:
    """The default labelled rewrite corpus (abel.scoring.corpus, seed 0, from MATH test), built once per test
    process for the modules that read it (about 10 s a build); a tuple, so no test reorders it for another."""
    from abel.scoring.corpus import build_corpus

    return tuple(build_corpus(data_dir / "math" / "test.jsonl"))
