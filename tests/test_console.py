"""The web console in headless Chromium (Debian's), driven by Playwright, against the real
server; the library is checked through the API after each step. Screenshots of each page
go to test-output/console/.

Each test stands alone: it gets an app of its own (with an empty library), puts the
pictures it needs there through the API, and signs in on a fresh browser context; only
the server and the browser process are shared by the module."""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.conftest import PHOTOS, ServerProcess, crop, jpeg, open_photo, photo_names
from tongtu.client import Client

pytestmark = [pytest.mark.slow, pytest.mark.model]

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
OUT = Path(__file__).resolve().parents[1] / "test-output" / "console"
NAMES = [photo_names()[i] for i in (3, 6, 9)]


@dataclass
class App:
    """An app of the server with a library of its own (named like the app)."""

    library: str
    api_key: str
    secret_key: str
    api: Client


@pytest.fixture
def app(server: ServerProcess) -> Iterator[App]:
    """A new app whose library is empty. Its name is long (57 characters): the library
    menu shows it, and the phone-width test asks that it does not widen the page."""
    name = f"web-{uuid.uuid4().hex[:6]}-a-library-whose-name-is-long-enough-to-test-it"
    creds = json.loads(server.cli("apps", "create", name, "--json"))
    with Client(server.base, creds["api_key"], creds["secret_key"]) as client:
        yield App(name, creds["api_key"], creds["secret_key"], client)


def add(app: App, *names: str, tags: tuple[int, ...] = (5,)) -> None:
    """The photos `names` put in the app's library through the API, each briefed with its
    file name (as the console's upload does)."""
    for name in names:
        app.api.add(app.library, PHOTOS / name, brief=name, tags=tags)


@pytest.fixture(scope="module")
def browser(server: ServerProcess) -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")

    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A page in a browser context of its own (so signed out: nothing in its session
    storage), which must raise no JavaScript error."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on("dialog", lambda dialog: dialog.accept())  # confirm() of deletes
    yield pg
    context.close()
    assert errors == [], errors  # no JavaScript error on any page


def _nav(page: Any, view: str) -> None:
    page.locator("#nav").get_by_role("button", name=view, exact=True).click()


_SHOWN_THOUGH_HIDDEN = """() => [...document.querySelectorAll('[hidden]')]
    .filter(e => getComputedStyle(e).display !== 'none').map(e => e.id || e.tagName)"""


def sign_in(page: Any, server: ServerProcess, app: App) -> None:
    """Signed in to the console as `app`, its gallery loaded."""
    count = app.api.library(app.library).count
    page.goto(server.base + "/")
    page.get_by_label("API key").fill(app.api_key)
    page.get_by_label("Secret key").fill(app.secret_key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#stats")).to_have_text(re.compile(rf"^{count} of "))
    expect(page.locator("#grid li")).to_have_count(count)
    expect(page.locator("#nav")).to_be_visible()
    assert page.evaluate(_SHOWN_THOUGH_HIDDEN) == []


def test_sign_in_fails_with_a_wrong_secret_and_then_shows_the_empty_library(
    page: Any, server: ServerProcess, app: App
) -> None:
    page.goto(server.base + "/")
    # signed out: the views' navigation is not shown, nor anything else marked hidden
    # (a stylesheet's `display` would override the attribute)
    expect(page.locator("#nav")).to_be_hidden()
    assert page.evaluate(_SHOWN_THOUGH_HIDDEN) == []
    page.get_by_label("API key").fill(app.api_key)
    page.get_by_label("Secret key").fill("wrong")
    page.screenshot(path=OUT / "signin.png")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("alert").get_by_text("Sign-in failed").wait_for()
    page.get_by_label("Secret key").fill(app.secret_key)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("The library is empty").wait_for()
    assert page.locator("#stats").inner_text().startswith("0 of 500,000 images")
    expect(page.locator("#nav")).to_be_visible()
    assert page.evaluate(_SHOWN_THOUGH_HIDDEN) == []


def test_upload_shows_progress_and_a_result_per_file_with_errors_and_duplicates(
    page: Any, server: ServerProcess, app: App, tmp_path: Path
) -> None:
    sign_in(page, server, app)
    _nav(page, "Upload")
    bad = tmp_path / "notes.jpg"
    bad.write_bytes(b"not a picture")
    page.locator("#view-upload").get_by_label("Tags", exact=True).fill("5")
    with page.expect_file_chooser() as chooser:
        page.locator("#drop").focus()
        page.keyboard.press("Enter")  # the drop zone works from the keyboard
    chooser.value.set_files([str(PHOTOS / n) for n in NAMES] + [str(bad)])
    results = page.locator("#upload-results li")
    expect(page.locator("#upload-results li.added")).to_have_count(3)
    page.locator("#upload-results li.error").wait_for()
    assert results.count() == 4
    failed = page.locator("#upload-results li.error").inner_text()
    assert "not an image of an accepted format" in failed and "(error 216201)" in failed
    # The same file again is a duplicate, named by its cont_sign.
    page.locator("#files").set_input_files(str(PHOTOS / NAMES[0]))
    page.get_by_text("duplicate of").wait_for()
    page.screenshot(path=OUT / "upload.png")
    assert app.api.library(app.library).count == 3
    assert sorted(i.brief for i in app.api.images(app.library)) == sorted(NAMES)
    assert all(i.tags == [5] for i in app.api.images(app.library))


def test_gallery_shows_the_thumbnails_and_filters_by_brief(
    page: Any, server: ServerProcess, app: App
) -> None:
    add(app, *NAMES)
    sign_in(page, server, app)
    _nav(page, "Gallery")
    page.locator("#grid li").nth(2).wait_for()
    assert page.locator("#grid li").count() == 3
    for img in page.locator("#grid img").all():
        expect(img).to_have_js_property("complete", True)
        assert img.evaluate("i => i.naturalWidth") > 0
    assert page.locator("#stats").inner_text().startswith("3 of 500,000 images")
    page.screenshot(path=OUT / "gallery.png")
    page.get_by_label("Brief contains").fill(NAMES[1].split("__")[-1].upper())
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#grid li")).to_have_count(1)
    page.get_by_label("Brief contains").fill("")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#grid li")).to_have_count(3)


def test_image_dialog_edits_brief_and_tags_inline(
    page: Any, server: ServerProcess, app: App
) -> None:
    add(app, *NAMES)
    sign_in(page, server, app)
    page.get_by_role("button", name=f"Open {NAMES[0]}").click()
    dialog = page.locator("#detail")
    dialog.get_by_label("Brief", exact=True).fill("edited in the console")
    dialog.get_by_label("Tags", exact=True).fill("5,6")
    page.screenshot(path=OUT / "image.png")
    dialog.get_by_role("button", name="Save").click()
    page.get_by_role("alert").get_by_text("Saved.").wait_for()
    page.keyboard.press("Escape")
    edited = [i for i in app.api.images(app.library) if i.brief == "edited in the console"]
    assert len(edited) == 1 and edited[0].tags == [5, 6]
    page.get_by_role("button", name="Open edited in the console").wait_for()


def test_search_with_a_crop_finds_its_photo_and_outlines_the_region_on_both(
    page: Any, server: ServerProcess, app: App, tmp_path: Path
) -> None:
    add(app, *NAMES)
    query = tmp_path / "crop.jpg"
    query.write_bytes(jpeg(crop(open_photo(NAMES[1]), 0.6), 85))
    sign_in(page, server, app)
    _nav(page, "Search")
    page.locator("#view-search").get_by_label("Image", exact=True).set_input_files(str(query))
    page.locator("#search").get_by_role("button", name="Search").click()
    first = page.locator("#search-results li").first
    first.wait_for()
    assert NAMES[1] in first.inner_text()
    assert "query is part of result" in first.inner_text()
    first.get_by_role("button").click()
    regions = page.locator("#pair polygon.region")
    regions.nth(1).wait_for(state="attached")
    assert regions.count() == 2  # outlined on the query and on the result
    points = [
        [tuple(map(float, p.split(","))) for p in regions.nth(i).get_attribute("points").split()]
        for i in range(2)
    ]
    xs = [x for x, _ in points[1]]
    assert len(points[1]) >= 3 and min(xs) > 0.2 and max(xs) > 0.95  # the right-hand part
    page.locator("#pair").scroll_into_view_if_needed()
    page.screenshot(path=OUT / "search.png")


def test_compare_of_a_crop_with_its_photo_says_same_and_outlines_both(
    page: Any, server: ServerProcess, app: App, tmp_path: Path
) -> None:
    (tmp_path / "a.jpg").write_bytes(jpeg(crop(open_photo(NAMES[2]), 0.7), 85))
    sign_in(page, server, app)
    _nav(page, "Compare")
    page.get_by_label("Image A").set_input_files(str(tmp_path / "a.jpg"))
    page.get_by_label("Image B").set_input_files(str(PHOTOS / NAMES[2]))
    page.locator("#compare").get_by_role("button", name="Compare").click()
    page.get_by_text("Same picture: query is part of result").wait_for()
    assert page.locator("#compare-pair polygon.region").count() == 2
    page.screenshot(path=OUT / "compare.png")


def test_duplicates_view_finds_no_cluster_among_distinct_photos(
    page: Any, server: ServerProcess, app: App
) -> None:
    add(app, *NAMES)
    sign_in(page, server, app)
    _nav(page, "Duplicates")
    page.get_by_role("button", name="Find duplicates").click()
    page.get_by_text("0 cluster(s) of copies among 3 images").wait_for()


def test_delete_one_image_from_its_dialog_then_the_selected_ones(
    page: Any, server: ServerProcess, app: App
) -> None:
    add(app, *NAMES)
    sign_in(page, server, app)
    _nav(page, "Gallery")
    page.get_by_role("button", name=f"Open {NAMES[2]}").click()
    page.locator("#detail").get_by_role("button", name="Delete").click()
    page.get_by_role("alert").get_by_text("Deleted.").wait_for()
    assert app.api.library(app.library).count == 2
    assert NAMES[2] not in [i.brief for i in app.api.images(app.library)]
    expect(page.locator("#grid li")).to_have_count(2)
    for box in page.get_by_role("checkbox").all():
        box.check()
    page.get_by_role("button", name="Delete selected (2)").click()
    page.get_by_role("alert").get_by_text("Deleted 2 image(s).").wait_for()
    assert app.api.library(app.library).count == 0


def test_gallery_fits_a_phone_width_without_scrolling_sideways(
    page: Any, server: ServerProcess, app: App
) -> None:
    sign_in(page, server, app)
    app.api.add(app.library, PHOTOS / NAMES[0], brief="back again")
    page.set_viewport_size({"width": 390, "height": 844})
    _nav(page, "Gallery")
    page.locator("#library").select_option(app.library)
    expect(page.get_by_role("button", name="Open back again")).to_have_count(1)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=OUT / "gallery-phone.png", full_page=True)


def test_thumbnails_and_api_reference_load_from_this_server_alone(
    page: Any, server: ServerProcess, app: App
) -> None:
    """No request leaves the server's origin (the reference used to come from a CDN), and
    no URL the browser asks for carries the token (access logs print URLs)."""
    add(app, NAMES[0])
    sign_in(page, server, app)
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    page.reload()  # signed in still: a new thumbnail key, so thumbnails not from the cache
    page.locator("#grid img").first.wait_for()
    expect(page.locator("#grid img").first).to_have_js_property("complete", True)
    assert page.locator("#grid img").first.evaluate("img => img.naturalWidth") > 0
    page.goto(server.base + "/docs")
    page.get_by_text("/v1/libraries/{name}/search").first.wait_for()
    page.screenshot(path=OUT / "api-reference.png")
    assert any("/thumbnail?thumb=" in u for u in urls)
    assert urls and all(u.startswith(server.base) for u in urls), urls
    assert not any("access_token" in u for u in urls), urls
