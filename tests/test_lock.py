"""requirements.lock pins every package; it agrees with pyproject.toml and with this environment."""

from __future__ import annotations

import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]


def lock() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for n, line in enumerate((REPO / "requirements.lock").read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, ver = line.partition("==")
        assert sep and ver, f"requirements.lock:{n}: not a '<name>==<version>' pin: {line!r}"
        key = canonicalize_name(name)
        assert key not in pins, f"requirements.lock:{n}: {name} pinned twice"
        pins[key] = Version(ver)
    return pins


def test_every_declared_dependency_is_pinned_within_its_range() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = lock()
    declared = [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]]
    for req in declared:
        key = canonicalize_name(req.name)
        if key == "torch":  # pinned in pyproject itself (a local CPU build) and kept out of the lock
            assert str(req.specifier) == "==2.13.0"
            continue
        assert key in pins, f"{req.name} is declared in pyproject.toml but not pinned in requirements.lock"
        assert req.specifier.contains(pins[key], prereleases=True), f"{req.name}: lock {pins[key]} outside {req.specifier}"


def test_this_environment_is_the_locked_one() -> None:
    mismatched = {}
    for name, pinned in lock().items():
        try:
            installed = Version(version(name))
        except PackageNotFoundError:
            mismatched[name] = "not installed"
            continue
        if installed != pinned:
            mismatched[name] = f"{installed} installed, {pinned} locked"
    assert not mismatched, f"environment differs from requirements.lock (run make install / make lock): {mismatched}"
