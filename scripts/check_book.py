"""Check the built book as a reader sees it, in a real headless browser (Chromium).

    python scripts/check_book.py [--html _build/html] [--profile P] [--out DIR]

For the landing page and one paper chapter (``--chapter``, default ``ozer``) it loads the page
in headless Chromium, takes the DOM after scripts have run (``--dump-dom``) and a screenshot,
and asserts:

* the page title names the book and the page has a heading;
* at least one table with body rows; on the landing page a table with a *verdict* column;
* figures: at least one ``<img>`` in the page content, and every image file exists and is a
  non-empty, readable PNG/JPEG/SVG/GIF;
* no error output: no traceback or error/stderr output cell, no ``...Error:`` line printed;
* the profile banner names the profile the book was built from, near the top of the page;
* the screenshot is not blank.

Every page of the table of contents is also opened in Chromium at 1280 px and 390 px width
(``WIDTHS``): a screenshot of each goes to ``--out``, and the check fails when an element of the page
content is wider than the viewport without a scrolling box around it (a table must wrap or scroll
inside itself, never widen the page), when a table shows a raw DataFrame index (a first column of
row numbers 0, 1, 2 …), or when a path of the build machine (the checkout, its parent folder or
the home directory) appears anywhere in the HTML. ``--fast`` skips the per-page browser runs.

Every other page in the table of contents gets the same checks without the browser (title,
banner, images, no error output) plus a check that its internal links resolve. The profile
defaults to the one recorded by ``scripts/build_book.sh`` in ``book/generated/build_info.json``.
Exits 1 with the list of failures, 2 when Chromium or the built book is missing.
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
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

from bs4 import BeautifulSoup

REPO = Path(__file__).resolve().parents[1]
BOOK_TITLE = "fer-replication: five FER papers, re-run"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio"]
IMAGE_MAGIC = {b"\x89PNG\r\n\x1a\n": "png", b"\xff\xd8\xff": "jpeg", b"GIF8": "gif"}
BANNER_WITHIN = 3000  # characters of page text in which the profile banner must appear
WIDTHS = (1280, 390)
#: Paths of the build machine that must not leak into the published HTML.
MACHINE_PATHS = tuple(dict.fromkeys(p for p in (str(REPO), str(REPO.parent) + "/", str(Path.home()) + "/")
                                    if len(p) > 2))
#: Injected into a copy of each page: lists content elements that stick out of the viewport
#: without a scrolling (or clipping) ancestor, into <pre id="fer-overflow">.
OVERFLOW_JS = """<script>
window.addEventListener('load', function () { setTimeout(function () {
  var vw = document.documentElement.clientWidth, bad = [];
  var root = document.querySelector('main') || document.body;
  root.querySelectorAll('*').forEach(function (el) {
    var r = el.getBoundingClientRect();
    if (r.width === 0 || r.right <= vw + 1) return;
    if (el.closest('.bd-sidebar-primary, .bd-sidebar-secondary')) return;  // the theme's off-canvas drawers
    for (var a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      var ox = getComputedStyle(a).overflowX;
      if (ox === 'auto' || ox === 'scroll' || ox === 'hidden') {
        if (a.getBoundingClientRect().right <= vw + 1) return;
      }
    }
    var name = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
      (el.className && el.className.baseVal === undefined ? '.' + String(el.className).split(' ').join('.') : '');
    bad.push(name + ' ' + Math.round(r.width) + 'px wide, right edge ' + Math.round(r.right) + 'px');
  });
  var pre = document.createElement('pre'); pre.id = 'fer-overflow'; pre.style.display = 'none';
  pre.textContent = JSON.stringify({vw: vw, scroll: document.documentElement.scrollWidth, bad: bad.slice(0, 8)});
  document.body.appendChild(pre);
}, 300); });
</script>"""
ERROR_LINE = re.compile(r"Traceback \(most recent call last\)|^\s*[A-Za-z_.]*(Error|Exception): ", re.M)


def find_chromium(explicit: str | None) -> str | None:
    """``explicit`` (--chromium) or $CHROMIUM if given, else the first of CHROMIUM_CANDIDATES found."""
    explicit = explicit or os.environ.get("CHROMIUM")
    for c in [explicit] if explicit else CHROMIUM_CANDIDATES:
        if c and (Path(c).is_file() or shutil.which(c)):
            return c if Path(c).is_file() else shutil.which(c)
    return None


def chromium(binary: str, url: str, *args: str, timeout: int = 90) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="check_book_chromium_") as profile_dir:
        cmd = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}", "--virtual-time-budget=5000",
               *args, url]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def toc_pages() -> list[str]:
    """Doc names (no suffix) of every page in _toc.yml, the root first."""
    import yaml

    toc = yaml.safe_load((REPO / "_toc.yml").read_text(encoding="utf-8"))
    out = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                out.append(node["file"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(toc.get("parts", []))
    walk(toc.get("chapters", []))
    return [re.sub(r"\.(md|ipynb)$", "", p) for p in dict.fromkeys(out)]


class Checker:
    def __init__(self, html_root: Path, profile: str):
        self.root = html_root
        self.profile = profile
        self.failures: list[str] = []
        # "Profile: quick", "profile **quick**", or "QUICK PROFILE"
        p = re.escape(profile)
        self.banner = re.compile(rf"\bprofile\b[\s:*`'\"=(\-—]{{0,8}}{p}\b|\b{p}\b[\s*`'\"]{{0,4}}profile\b", re.I)

    def fail(self, page: str, msg: str) -> None:
        self.failures.append(f"{page}: {msg}")

    # -- the checks ------------------------------------------------------------------------
    def content(self, soup: BeautifulSoup):
        return soup.find("article") or soup.find("main") or soup.body or soup

    def check_title(self, page: str, soup: BeautifulSoup) -> None:
        title = soup.title.get_text(" ", strip=True) if soup.title else ""
        if BOOK_TITLE not in title:
            self.fail(page, f"page title {title!r} does not name the book ({BOOK_TITLE!r})")
        h1 = self.content(soup).find("h1")
        if not h1 or not h1.get_text(strip=True):
            self.fail(page, "no <h1> heading in the page content")

    def check_tables(self, page: str, soup: BeautifulSoup, need_verdict: bool) -> None:
        tables = self.content(soup).find_all("table")
        with_rows = [t for t in tables if any(tr.find("td") for tr in t.find_all("tr"))]
        if not with_rows:
            self.fail(page, f"no table with data rows ({len(tables)} table(s) in all)")
        if need_verdict:
            def headers(t):
                return [c.get_text(" ", strip=True).lower() for c in t.find_all("th")]
            if not any(any("verdict" in h for h in headers(t)) for t in with_rows):
                self.fail(page, "no table has a 'verdict' column (the scoreboard)")

    def check_images(self, page: str, soup: BeautifulSoup, html_file: Path, need_one: bool) -> None:
        imgs = self.content(soup).find_all("img")
        if need_one and not imgs:
            self.fail(page, "no figure (<img>) in the page content")
        for img in imgs:
            src = img.get("src", "")
            if not src:
                self.fail(page, "an <img> without src")
                continue
            if src.startswith("data:"):
                if len(src.split(",", 1)[-1]) < 100:
                    self.fail(page, f"an inline image is (nearly) empty: {src[:60]}")
                continue
            parsed = urlparse(src)
            if parsed.scheme in ("http", "https"):
                self.fail(page, f"image loaded from the network: {src}")
                continue
            path = (html_file.parent / unquote(parsed.path)).resolve() if parsed.scheme != "file" \
                else Path(unquote(parsed.path))
            if not path.is_file():
                self.fail(page, f"image file missing: {src} -> {path}")
                continue
            data = path.read_bytes()
            if not data:
                self.fail(page, f"image file empty: {path}")
            elif path.suffix.lower() == ".svg":
                if b"<svg" not in data[:2000]:
                    self.fail(page, f"image file is not an SVG: {path}")
            elif not any(data.startswith(m) for m in IMAGE_MAGIC):
                self.fail(page, f"image file is not a PNG/JPEG/GIF: {path}")

    def check_errors(self, page: str, soup: BeautifulSoup) -> None:
        body = self.content(soup)
        for el in body.select(".cell_output .output, .cell_output div[class*=highlight-ipythontb]"):
            classes = " ".join(el.get("class", []))
            if re.search(r"\b(traceback|error|stderr)\b", classes) or "ipythontb" in classes:
                self.fail(page, f"error output cell ({classes}): {el.get_text(' ', strip=True)[:160]!r}")
        for out in body.select(".cell_output"):
            # text outputs only; tables may legitimately contain words like "error"
            for pre in out.find_all("pre"):
                m = ERROR_LINE.search(pre.get_text("\n"))
                if m:
                    self.fail(page, f"output prints an error: {pre.get_text(' ', strip=True)[:160]!r}")
        text = body.get_text("\n")
        if "Traceback (most recent call last)" in text:
            self.fail(page, "a traceback appears in the page")

    def check_banner(self, page: str, soup: BeautifulSoup) -> None:
        """A banner is near the top of the page (or marked with the class profile-banner)."""
        body = self.content(soup)
        top = body.get_text(" ", strip=True)[:BANNER_WITHIN]
        marked = " ".join(el.get_text(" ", strip=True) for el in body.select(".profile-banner"))
        if not (self.banner.search(top) or self.banner.search(marked)):
            self.fail(page, f"no profile banner naming profile '{self.profile}' in the first {BANNER_WITHIN} "
                            f"characters (expected text like 'Profile: {self.profile}' or "
                            f"'{self.profile.upper()} PROFILE')")

    def check_links(self, page: str, soup: BeautifulSoup, html_file: Path) -> None:
        for a in self.content(soup).find_all("a", href=True):
            href = a["href"]
            parsed = urlparse(href)
            if parsed.scheme or href.startswith(("#", "mailto:", "//")):
                continue
            target = (html_file.parent / unquote(urldefrag(parsed.path)[0])).resolve()
            if not target.exists():
                self.fail(page, f"broken link {href!r} (no {target})")

    def check_index(self, page: str, soup: BeautifulSoup) -> None:
        """No table starts its rows with a header cell of row numbers 0, 1, 2 … (a raw DataFrame index)."""
        for t in self.content(soup).find_all("table"):
            body = t.find("tbody") or t
            firsts = [tr.find(["th", "td"]) for tr in body.find_all("tr")]
            firsts = [c for c in firsts if c is not None]
            if len(firsts) >= 2 and all(c.name == "th" for c in firsts) and \
                    [c.get_text(strip=True) for c in firsts] == [str(i) for i in range(len(firsts))]:
                head = " | ".join(c.get_text(" ", strip=True) for c in t.find_all("th")[:4])
                self.fail(page, f"a table shows a raw DataFrame index 0..{len(firsts) - 1} (headers: {head[:80]!r})")

    def check_paths(self, page: str, html: str) -> None:
        for p in MACHINE_PATHS:
            i = html.find(p)
            if i >= 0:
                self.fail(page, f"a path of the build machine appears in the HTML: {html[max(0, i - 40):i + 60]!r}")

    def check_overflow(self, page: str, dom: str, width: int) -> None:
        m = re.search(r'<pre id="fer-overflow"[^>]*>(.*?)</pre>', dom, re.S)
        if not m:
            self.fail(page, f"at {width} px: the overflow probe did not run")
            return
        import html as _html

        found = json.loads(_html.unescape(m.group(1)))
        if found["bad"]:
            self.fail(page, f"at {width} px: {len(found['bad'])} element(s) wider than the viewport "
                            f"({found['vw']} px), e.g. {'; '.join(found['bad'][:3])}")

    def check_page(self, page: str, html: str, html_file: Path, *, landing: bool, browser: bool) -> None:
        soup = BeautifulSoup(html, "html.parser")
        self.check_title(page, soup)
        self.check_banner(page, soup)
        self.check_errors(page, soup)
        self.check_images(page, soup, html_file, need_one=browser)
        self.check_index(page, soup)
        self.check_paths(page, html)
        if browser:
            self.check_tables(page, soup, need_verdict=landing)
        else:
            self.check_links(page, soup, html_file)

    def check_screenshot(self, page: str, png: Path) -> None:
        if not png.is_file() or png.stat().st_size == 0:
            self.fail(page, f"Chromium wrote no screenshot {png}")
            return
        try:
            from PIL import Image
        except ImportError:
            return
        im = Image.open(png).convert("L")
        hist = im.histogram()
        nonwhite = 1 - sum(hist[245:]) / max(1, im.width * im.height)
        if nonwhite < 0.01:
            self.fail(page, f"the screenshot {png} is blank ({nonwhite:.1%} non-white pixels)")


def layout_check(chk: Checker, binary: str, doc: str, html_file: Path, out: Path) -> None:
    """Screenshots of one page at each of WIDTHS, and the overflow probe on a copy of the page."""
    probe = html_file.with_name(f".check_{html_file.stem}.html")
    text = html_file.read_text(encoding="utf-8")
    probe.write_text(text.replace("</body>", OVERFLOW_JS + "</body>", 1), encoding="utf-8")
    stem = doc.replace("/", "_")
    try:
        for w in WIDTHS:
            try:
                res = chromium(binary, probe.as_uri(), "--dump-dom", f"--window-size={w},1000")
                chk.check_overflow(doc, res.stdout, w)
                png = out / f"{stem}_{w}.png"
                png.unlink(missing_ok=True)
                chromium(binary, html_file.as_uri(), f"--screenshot={png}", f"--window-size={w},1400")
                chk.check_screenshot(f"{doc} ({w} px)", png)
            except subprocess.TimeoutExpired:
                chk.fail(doc, f"Chromium did not finish {html_file} at {w} px")
    finally:
        probe.unlink(missing_ok=True)
    print(f"[check] {doc}: layout at {', '.join(map(str, WIDTHS))} px checked", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--html", type=Path, default=REPO / "_build" / "html", help="the built book")
    ap.add_argument("--profile", help="expected profile (default: book/generated/build_info.json)")
    ap.add_argument("--chapter", default="book/generated/ozer", help="paper chapter to open in the browser")
    ap.add_argument("--out", type=Path, default=REPO / "_build" / "check",
                    help="where the dumped DOMs and screenshots go")
    ap.add_argument("--chromium", help="Chromium binary (default: /usr/bin/chromium, $CHROMIUM, or on PATH)")
    ap.add_argument("--fast", action="store_true", help="skip the per-page screenshots and overflow checks")
    args = ap.parse_args(argv)

    html_root: Path = args.html.resolve()
    index = html_root / "index.html"
    if not index.is_file():
        print(f"check_book.py: no built book at {index}; build it: bash scripts/build_book.sh <profile>",
              file=sys.stderr)
        return 2
    profile = args.profile
    info_file = REPO / "book" / "generated" / "build_info.json"
    if not profile:
        if not info_file.is_file():
            print(f"check_book.py: no {info_file}; pass --profile or rebuild with scripts/build_book.sh",
                  file=sys.stderr)
            return 2
        profile = json.loads(info_file.read_text())["profile"]
    binary = find_chromium(args.chromium)
    if not binary:
        print("check_book.py: Chromium not found (looked for /usr/bin/chromium, $CHROMIUM, chromium, "
              "chromium-browser, google-chrome). Install it:\n"
              "  apt-get update && apt-get install -y chromium        # Debian / Ubuntu\n"
              "or point --chromium / $CHROMIUM at a Chromium or Chrome binary.", file=sys.stderr)
        return 2
    version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.strip()
    args.out.mkdir(parents=True, exist_ok=True)
    chk = Checker(html_root, profile)
    print(f"[check] {html_root} (profile {profile}) with {version or binary}")

    # The landing page: index.html is a redirect to the root document; follow it as a browser does.
    pages = toc_pages()
    root_doc = pages[0]
    m = re.search(r'url=([^"\'>\s]+)', index.read_text(encoding="utf-8", errors="replace"))
    landing_file = (html_root / m.group(1)).resolve() if m else index
    if landing_file != (html_root / f"{root_doc}.html").resolve():
        chk.fail("index.html", f"does not lead to the root page {root_doc}.html (goes to {landing_file})")

    browser_pages = [("landing page", landing_file, True), (args.chapter, html_root / f"{args.chapter}.html", False)]
    for label, html_file, landing in browser_pages:
        if not html_file.is_file():
            chk.fail(label, f"page missing: {html_file}")
            continue
        url = (index if landing else html_file).as_uri()
        try:
            res = chromium(binary, url, "--dump-dom")
        except subprocess.TimeoutExpired:
            chk.fail(label, f"Chromium did not finish loading {url}")
            continue
        if res.returncode != 0 or "<html" not in res.stdout.lower():
            chk.fail(label, f"Chromium could not load {url} (exit {res.returncode}): {res.stderr.strip()[-400:]}")
            continue
        dom = res.stdout
        stem = "landing" if landing else Path(args.chapter).name
        (args.out / f"{stem}.dom.html").write_text(dom, encoding="utf-8")
        if landing and not re.search(r"<title>[^<]*" + re.escape(BOOK_TITLE), dom) and "Refresh" in dom:
            # the redirect had not happened when the DOM was dumped: load the target itself
            res = chromium(binary, landing_file.as_uri(), "--dump-dom")
            dom = res.stdout
            (args.out / f"{stem}.dom.html").write_text(dom, encoding="utf-8")
        chk.check_page(label, dom, html_file, landing=landing, browser=True)
        png = args.out / f"{stem}.png"
        png.unlink(missing_ok=True)
        try:
            chromium(binary, html_file.as_uri(), f"--screenshot={png}", "--window-size=1280,1600")
        except subprocess.TimeoutExpired:
            pass
        chk.check_screenshot(label, png)
        print(f"[check] {label}: {html_file.relative_to(html_root)} — DOM {len(dom) // 1024} KiB, screenshot {png}")

    # Every other page: the same checks on the static HTML, plus internal links.
    done = {landing_file.resolve(), (html_root / f"{args.chapter}.html").resolve()}
    for doc in pages:
        f = (html_root / f"{doc}.html").resolve()
        if f in done:
            continue
        if not f.is_file():
            chk.fail(doc, f"page missing: {f}")
            continue
        chk.check_page(doc, f.read_text(encoding="utf-8"), f, landing=False, browser=False)
    print(f"[check] {len(pages)} pages checked ({len(browser_pages)} in Chromium)")
    if not args.fast:
        for doc in pages:
            f = (html_root / f"{doc}.html").resolve()
            if f.is_file():
                layout_check(chk, binary, doc, f, args.out)
        print(f"[check] {len(pages)} pages screenshot at {', '.join(map(str, WIDTHS))} px in {args.out}")

    if chk.failures:
        print(f"\ncheck_book.py: {len(chk.failures)} problem(s) in the built book:", file=sys.stderr)
        for f in chk.failures:
            print(f"  - {f}", file=sys.stderr)
        return 1
    print(f"[check] OK: {index}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
