"""The report as a reader sees it: rendered from the repo's metrics, opened in headless Chromium.

Builds ``report.md`` / ``report.html`` from this checkout's metrics into a temp folder (the
committed ``reports/`` are never touched), then asks Chromium for a screenshot and, through a probe
copy of the page with one inline script, for what the browser made of it: every image's natural
size, the rendered text, each table cell's computed alignment and every link. Skipped only when no
Chromium binary is found (CI installs one: ``.ci/run``).
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from abel.report import assemble

REPO = Path(__file__).resolve().parents[2]
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")

# Runs in the probe copy only (the report itself carries no script): after every image has loaded
# (the load event), write what the browser rendered into <pre id="probe"> for --dump-dom to print.
PROBE = """<script>
function probe() {
  var out = {images: [], cells: [], links: [], text: document.body.innerText};
  document.querySelectorAll("img").forEach(function (img) {
    out.images.push({src: img.getAttribute("src").slice(0, 40), complete: img.complete,
                     width: img.naturalWidth, height: img.naturalHeight});
  });
  document.querySelectorAll("td").forEach(function (td) {
    out.cells.push({text: td.innerText, align: getComputedStyle(td).textAlign});
  });
  document.querySelectorAll("a[href]").forEach(function (a) { out.links.push(a.getAttribute("href")); });
  var pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
}
if (document.readyState === "complete") { probe(); } else { window.addEventListener("load", probe); }
</script>
"""


def _chromium() -> str:
    for name in ([os.environ["CHROMIUM"]] if os.environ.get("CHROMIUM") else []) + list(BROWSERS):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip(f"no Chromium binary found on PATH (tried {', '.join(BROWSERS)}; or set $CHROMIUM); "
                ".ci/run installs one with apt-get")


def _run(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           "--hide-scrollbars", "--no-first-run", f"--user-data-dir={profile}", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    browser = _chromium()
    out = tmp_path_factory.mktemp("report")
    markdown, _ = assemble.build(REPO)
    page = assemble.to_html(markdown, REPO)
    (out / "report.md").write_text(markdown, encoding="utf-8")
    (out / "report.html").write_text(page, encoding="utf-8")
    shot = out / "report.png"
    _run(browser, out / "profile-shot", f"--screenshot={shot}", "--window-size=1280,2400",
         (out / "report.html").as_uri())
    (out / "probe.html").write_text(page.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = _run(browser, out / "profile-dom", "--dump-dom", "--virtual-time-budget=10000",
               (out / "probe.html").as_uri()).stdout
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found, f"the probe script did not run; DOM tail:\n{dom[-2000:]}"
    version = subprocess.run([browser, "--version"], capture_output=True, text=True, timeout=60).stdout.strip()
    print(f"rendered with {version}")
    return {"markdown": markdown, "html": page, "shot": shot, "probe": json.loads(html.unescape(found.group(1)))}


def test_screenshot_shows_a_page(rendered: dict[str, Any]) -> None:
    from PIL import Image

    shot = rendered["shot"]
    assert shot.is_file() and shot.stat().st_size > 0
    with Image.open(shot) as img:
        assert img.size == (1280, 2400)
        rgb = img.convert("RGB")
        assert any(lo != hi for lo, hi in rgb.getextrema()), "the screenshot is one flat colour"
        colours = rgb.getcolors(maxcolors=1 << 20)
        assert colours is None or len(colours) > 16, f"only {len(colours)} colours: nothing rendered"


def test_every_image_loads(rendered: dict[str, Any]) -> None:
    images = rendered["probe"]["images"]
    assert len(images) == len(assemble.referenced_images(rendered["markdown"])) > 0
    for img in images:
        assert img["src"].startswith("data:image/png;base64,"), img  # embedded: nothing to resolve elsewhere
        assert img["complete"] and img["width"] > 0 and img["height"] > 0, img


def test_no_raw_markdown_survives(rendered: dict[str, Any]) -> None:
    text = rendered["probe"]["text"]
    assert "Key findings" in text and "Curation comparison" in text
    for raw in ("**", "](", "¶", "*Source"):
        assert raw not in text, f"{raw!r} is shown as text: {text[max(0, text.find(raw) - 80):text.find(raw) + 80]!r}"
    for line in text.splitlines():
        stripped = line.strip()
        assert not stripped.startswith("#"), line
        assert not re.match(r"\|\s*:?-{3}", stripped), line


def test_links_are_whole_urls(rendered: dict[str, Any]) -> None:
    links = [h for h in rendered["probe"]["links"] if not h.startswith("#")]
    assert links, "the published sections cite their sources by link"
    for href in links:
        assert re.fullmatch(r"https://[^\s()*<>]+", href), href


def test_text_columns_left_numbers_right(rendered: dict[str, Any]) -> None:
    cells = rendered["probe"]["cells"]
    texts = [c for c in cells if re.search(r"[A-Za-z_]", c["text"])]
    numbers = [c for c in cells if re.fullmatch(r"[+\-]?\d[\d.,]*%?", c["text"].strip())]
    assert texts and numbers
    assert all(c["align"] in ("left", "start") for c in texts), [c for c in texts if c["align"] not in ("left", "start")][:5]
    assert sum(c["align"] == "right" for c in numbers) > len(numbers) / 2
