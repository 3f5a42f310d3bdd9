"""The built site, checked as a reader sees it (``nox -s docs`` runs this after the build).

* every link and image between the site's own pages resolves (a file, and its ``#anchor``);
* in headless Chromium (Debian's, driven by Playwright; ``$CHROMIUM``): the sidebar's links
  lead to pages, the search page finds a term, and the design page's diagrams are SVG.

The site is served over HTTP on 127.0.0.1, as a reader's browser would load it (the search
index and the SVG diagrams are fetched by the page).

``DOCS_HTML`` is the built site (default ``docs/_build/html``).
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import threading
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

HTML = Path(os.environ.get("DOCS_HTML", Path(__file__).parent / "_build" / "html")).resolve()
TIMEOUT_MS = 15_000


class _Links(HTMLParser):
    """The ``href``/``src`` targets and the ``id``s of one page."""

    def __init__(self) -> None:
        super().__init__()
        self.targets: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name == "id":
                self.ids.add(value)
            elif name in {"href", "src"} or (tag == "object" and name == "data"):
                self.targets.append(value)


@functools.cache
def _parse(page: Path) -> _Links:
    parser = _Links()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def _pages() -> list[Path]:
    return sorted(HTML.rglob("*.html"))


def test_the_site_was_built() -> None:
    assert (HTML / "index.html").is_file(), f"no site at {HTML}: run `nox -s docs`"
    assert len(_pages()) > 10


def test_every_link_within_the_site_resolves() -> None:
    broken: list[str] = []
    for page in _pages():
        for target in _parse(page).targets:
            parts = urlsplit(target)
            if parts.scheme or parts.netloc or target.startswith(("mailto:", "javascript:")):
                continue  # outside the site: not checkable offline
            path = page if not parts.path else (page.parent / unquote(parts.path)).resolve()
            if path.is_dir():
                path = path / "index.html"
            where = f"{page.relative_to(HTML)} -> {target}"
            if not path.is_file() or not path.is_relative_to(HTML):
                broken.append(f"{where}: no such file")
            elif (
                parts.fragment
                and path.suffix == ".html"
                and unquote(parts.fragment) not in _parse(path).ids
            ):
                broken.append(f"{where}: no such anchor")
    assert not broken, "\n".join(broken)


# --------------------------------------------------------------------------- in the browser


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    """The built site, served on an ephemeral loopback port for the module's tests."""
    handler = functools.partial(_Quiet, directory=str(HTML))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = os.environ.get("CHROMIUM") or shutil.which("chromium")
    assert chromium, "no chromium: `apt-get install chromium` (nox -s docs does it)"
    with sync_playwright() as playwright:
        # Debian's Chromium: Playwright's own browser download is not used (nor reachable).
        browser = playwright.chromium.launch(executable_path=chromium, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"JavaScript errors: {errors}"


def test_the_front_page_shows_the_example_and_the_sections(page: Page, site: str) -> None:
    page.goto(site)
    expect(page).to_have_title(re.compile(r"^restate-trio"))
    expect(page.get_by_role("heading", level=1, name="restate-trio")).to_be_visible()
    # The twenty-line example, included from examples/quickstart.py and labelled tested.
    example = page.locator("div.tested").first
    expect(example).to_contain_text("class Greeter")
    expect(example).to_contain_text("trio.run(endpoint.serve")
    captions = page.locator(".sidebar-tree p.caption").all_text_contents()
    assert [caption.strip() for caption in captions] == [
        "Tutorial",
        "How-to",
        "Reference",
        "Design",
    ]


def test_every_sidebar_link_leads_to_a_page(page: Page, site: str) -> None:
    page.goto(site)
    links = page.locator(".sidebar-tree a.reference")
    hrefs = [str(link.get_attribute("href")) for link in links.all()]
    assert len(hrefs) >= 8, hrefs
    for href in hrefs:
        url = urljoin(site, href)
        response = page.goto(url)
        assert response is not None, href
        assert response.ok, (href, response.status)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
    # And by clicks, as a reader would: the sidebar to the Design section, its contents to
    # the architecture page.
    page.goto(site)
    page.locator(".sidebar-tree a.reference", has_text="Design").first.click()
    expect(page).to_have_url(urljoin(site, "design/index.html"))
    page.locator("article .toctree-wrapper a", has_text="The layers").click()
    expect(page).to_have_url(urljoin(site, "design/architecture.html"))
    title = "The layers, and the life of one invocation"
    heading = page.get_by_role("heading", level=1, name=title)
    expect(heading).to_be_visible()


def test_the_search_finds_reflect(page: Page, site: str) -> None:
    page.goto(urljoin(site, "search.html?q=reflect"))
    results = page.locator("#search-results li a")
    expect(results.first).to_be_visible()
    texts = results.all_inner_texts()
    assert any("reflect" in text for text in texts), texts
    # A result leads to the reference entry.
    page.locator("#search-results li a", has_text="reflect").first.click()
    expect(page.locator("dt#restate_trio\\.service\\.reflect")).to_be_visible()


def test_the_diagrams_are_rendered_svg(page: Page, site: str) -> None:
    page.goto(urljoin(site, "design/architecture.html"))
    diagrams = page.locator("div.graphviz object")
    expect(diagrams).to_have_count(2)
    for index, words in enumerate(["sans-I/O protocol core", "state machine"]):
        diagram = diagrams.nth(index)
        # The <object> loads the SVG Graphviz drew at build time; wait until it has.
        page.wait_for_function(
            "o => o.contentDocument && o.contentDocument.querySelector('svg g.node')",
            arg=diagram.element_handle(),
        )
        text = diagram.evaluate("o => o.contentDocument.querySelector('svg').textContent")
        assert words in text, text
        box = diagram.bounding_box()
        assert box is not None
        assert box["width"] > 200, box
        assert box["height"] > 200, box
