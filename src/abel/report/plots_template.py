"""An offline HTML template for ``dvc plots show``: vega, vega-lite and vega-embed inlined.

DVC's default page loads those three libraries from a CDN (its ``{scripts}`` placeholder). This
template has no ``{scripts}`` placeholder, so DVC adds nothing. The libraries are inlined instead,
taken from the npm registry tarballs at pinned versions, and each tarball's sha512 is checked
against the pin before anything is written. ``.dvc/config`` points ``plots.html_template`` here, so
``dvc plots show`` never reaches for a CDN. If the template has not been built, DVC says it is missing.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from abel.io import write_text

TEMPLATE = Path(".dvc") / "plots_template.html"  # relative to the repo root; git-ignored


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    integrity: str  # the npm registry's dist.integrity
    member: str  # the minified build inside the tarball

    @property
    def tarball(self) -> str:
        return f"{self.name}-{self.version}.tgz"


# the versions DVC's own page asks the CDN for (dvc_render.vega.VegaRenderer.SCRIPTS)
PACKAGES = (
    Package("vega", "5.20.2", "sha512-qmH7aD9GGPpssVdxL1xgcdxTbQzyRUeRR16Os385ymvQhiwCYQNA6+eXUPAZDTVLfk0RXu6Jzj6kUE5jQ80EVw==",
            "package/build/vega.min.js"),
    Package("vega-lite", "5.2.0", "sha512-Yxcg8MvYfxHcG6BbkaKT0oVCIMIcE19UvqIsEwBmyd/7h2nzW7oRnID81T8UrY7hpDrIr6wa2JADOT2dhGNErw==",
            "package/build/vega-lite.min.js"),
    Package("vega-embed", "6.18.2", "sha512-wcDyQPE4J5aiCDc3/suH5RQDvrKkjuLkhzUcbOLwEkNF8/+pp17tS0JghzEvAPNRg+5aG1/N2ydixq8Lk3dOlg==",
            "package/build/vega-embed.min.js"),
)


class TemplateError(RuntimeError):
    pass


def integrity(path: Path) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()


def fetch(dest: Path, packages: tuple[Package, ...] = PACKAGES) -> dict[str, Path]:
    """``npm pack`` each pinned package into ``dest`` (npm's cache makes a second run offline)."""
    npm = shutil.which("npm")
    if npm is None:
        raise TemplateError("npm is not installed: it fetches vega, vega-lite and vega-embed from the npm registry "
                            "(e.g. `apt-get install npm`), or pass tarballs you already have with --from")
    specs = [f"{p.name}@{p.version}" for p in packages]
    proc = subprocess.run([npm, "pack", *specs, "--pack-destination", str(dest)], capture_output=True, text=True,
                          timeout=300)
    if proc.returncode != 0:
        raise TemplateError(f"`npm pack {' '.join(specs)}` failed (offline, and not in npm's cache?): "
                            f"{proc.stderr.strip()[-500:]}")
    return {p.name: dest / p.tarball for p in packages}


def build(tarballs: dict[str, Path], packages: tuple[Package, ...] = PACKAGES) -> str:
    """The template text. Each tarball must match its pinned sha512."""
    scripts = []
    for p in packages:
        path = tarballs.get(p.name)
        if path is None or not path.is_file():
            raise TemplateError(f"missing tarball for {p.name}@{p.version} ({p.tarball})")
        if (got := integrity(path)) != p.integrity:
            raise TemplateError(f"{path}: sha512 {got} is not the pinned {p.integrity} of {p.name}@{p.version}")
        with tarfile.open(path, "r:gz") as tar:
            member = tar.extractfile(p.member)
            if member is None:
                raise TemplateError(f"{path}: no {p.member}")
            code = member.read().decode("utf-8")
        # a literal "</script" inside inline code would end the element early
        code = code.replace("</script", "<\\/script")
        scripts.append(f"<!-- {p.name}@{p.version} from the npm registry ({p.integrity}) -->\n<script>{code}</script>")
    head = "\n".join(scripts)
    return ("<!DOCTYPE html>\n<html>\n<head>\n{refresh_tag}\n<meta charset=\"utf-8\">\n<title>DVC plots (offline)</title>\n"
            f"{head}\n<style>table {{ border-spacing: 15px; }}</style>\n</head>\n<body>\n{{plot_divs}}\n</body>\n</html>\n")


def make(root: Path, from_dir: Path | None = None) -> Path:
    """Write ``.dvc/plots_template.html`` under ``root`` (atomically); return its path."""
    with tempfile.TemporaryDirectory() as tmp:
        if from_dir is not None:
            tarballs = {p.name: from_dir / p.tarball for p in PACKAGES}
        else:
            tarballs = fetch(Path(tmp))
        text = build(tarballs)
    out = root / TEMPLATE
    write_text(out, text)
    return out
