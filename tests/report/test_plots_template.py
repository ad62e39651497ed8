"""The offline `dvc plots show` template: pinned tarballs, inlined code, no CDN."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from abel.report import plots_template as pt


def tarball(path: Path, member: str, code: str) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        data = code.encode()
        info = tarfile.TarInfo(member)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


def test_template_inlines_pinned_code_and_has_no_scripts_placeholder(tmp_path: Path) -> None:
    path = tarball(tmp_path / "lib-1.0.0.tgz", "package/build/lib.min.js", "var s='</script>';function vegaEmbed(){}")
    pkg = pt.Package("lib", "1.0.0", pt.integrity(path), "package/build/lib.min.js")
    html = pt.build({"lib": path}, (pkg,))
    assert "{plot_divs}" in html and "{scripts}" not in html  # DVC injects its CDN tags only into {scripts}
    assert "function vegaEmbed(){}" in html and "'<\\/script>'" in html
    assert "<script src" not in html


def test_a_tarball_that_does_not_match_its_pin_is_refused(tmp_path: Path) -> None:
    path = tarball(tmp_path / "lib-1.0.0.tgz", "package/build/lib.min.js", "tampered")
    pkg = pt.Package("lib", "1.0.0", "sha512-AAAA", "package/build/lib.min.js")
    with pytest.raises(pt.TemplateError, match="is not the pinned"):
        pt.build({"lib": path}, (pkg,))
    with pytest.raises(pt.TemplateError, match="missing tarball"):
        pt.build({}, (pkg,))


def test_without_npm_the_error_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pt.shutil, "which", lambda _: None)
    with pytest.raises(pt.TemplateError, match="npm is not installed"):
        pt.fetch(tmp_path)


def test_pins_are_the_versions_dvc_would_fetch_from_its_cdn() -> None:
    from dvc_render.vega import VegaRenderer

    for p in pt.PACKAGES:
        assert f"npm/{p.name}@{p.version}\"" in VegaRenderer.SCRIPTS
