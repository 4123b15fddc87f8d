"""The leaderboard page in a real headless browser (Debian chromium + chromedriver).

Checks that the tables render with the right values (references and calibrations labelled and
unranked, the protocol as a table of settings, the small-n flag, a failed clip in its gallery
cell), that clicking a header sorts rows (numerically, missing values last) and that every
gallery video decodes. Nothing is
installed or downloaded here: `make test` set-up installs chromium and chromedriver.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import threading
from pathlib import Path

import pytest
from test_leaderboard import AMG, CLIPS, DMT, FROZEN, GT, make_results, write_run

from amg_bench.leaderboard import build_leaderboard
from amg_bench.results import Failure

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    failed = (Failure(CLIPS[1], "generate: RuntimeError: out of memory"),)
    paths = [
        write_run(root, "amg", make_results("amg", AMG), shade=200),
        write_run(root, "dmt", make_results("dmt", DMT, failures=failed), shade=120),
        write_run(
            root, "ground-truth", make_results("ground-truth", GT, role="reference", requires=("video",)), shade=40
        ),
        write_run(
            root, "avatar", make_results("avatar", {"clip_score": (20.0, 19.0, 21.0)}, role="reference"), shade=250
        ),
        write_run(root, "frozen", make_results("frozen", FROZEN, role="calibration"), shade=15),
    ]
    return build_leaderboard(paths, tmp_path_factory.mktemp("site") / "board", max_clips=2)


@pytest.fixture(scope="module")
def browser(site, tmp_path_factory):
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.fail(f"{missing} not found: `make test` installs Debian's chromium and chromium-driver; run it first")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
        "--window-size=1400,1000",
    ):
        options.add_argument(flag)
    # An explicit driver path: selenium-manager never runs, so nothing is downloaded.
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.leaderboard_url = f"http://127.0.0.1:{server.server_port}/index.html"
    try:
        yield driver
    finally:
        driver.quit()
        server.shutdown()
        server.server_close()


@pytest.fixture()
def page(browser):
    """The page freshly loaded, so no test sees another's sorting."""
    browser.get(browser.leaderboard_url)
    return browser


def _column(driver, table_css: str, index: int) -> list[str]:
    return driver.execute_script(
        "var column = arguments[1];"
        "return Array.from(document.querySelectorAll(arguments[0] + ' tbody tr'))"
        ".map(function (tr) { return tr.cells[column].textContent.trim(); });",
        table_css,
        index,
    )


def _click_header(driver, table_css: str, title: str) -> None:
    from selenium.webdriver.common.by import By

    headers = driver.find_elements(By.CSS_SELECTOR, f"{table_css} thead th")
    next(h for h in headers if h.text.startswith(title)).click()


def test_table_renders_with_the_measured_values(page):
    measured = "table.measured[data-group='P1']"
    assert _column(page, measured, 1) == ["amg", "dmt", "ground-truth", "avatar", "frozen"]
    assert _column(page, measured, 0) == ["1", "2", "—", "—", "—"]  # only methods are ranked
    assert _column(page, measured, 2)[0] == "33.10 ± 1.10 (#1)"
    assert _column(page, measured, 4)[1] == "56.25 ± 3.25 (#2)"
    assert _column(page, measured, 4)[2] == "99.90 ± 0.08"  # a reference row: no rank
    assert _column(page, measured, 5) == ["120"] * 5  # points dropped per clip
    assert _column(page, measured, 6) == ["3 (n < 20)"] * 5
    notes = _column(page, measured, 8)
    assert "reference" in notes[2] and "reads the real clip" in notes[2] and notes[4].startswith("calibration")
    assert "1 failed clip(s)" in notes[1]
    settings = dict(
        zip(_column(page, "table.settings[data-group='P1']", 0), _column(page, "table.settings[data-group='P1']", 1))
    )
    assert settings["protocol"].startswith("full: every test clip")
    assert settings["lost points"] == "dropped from both videos when lost in the reference"
    assert settings["interval"].startswith("95% cluster-robust t-interval")
    classes = page.execute_script(
        'return Array.from(document.querySelectorAll("table.measured tbody tr")).map(r => r.className)'
    )
    assert classes == ["role-method", "role-method", "role-reference", "role-reference", "role-calibration"]
    assert _column(page, "table.reported", 0) == ["Ground Truth", "DMT", "MagicAnimate", "AMG"]
    assert _column(page, "table.reported", 2) == ["99.88", "56.31", "26.53", "69.88"]
    assert page.execute_script("return document.querySelector('img.chart').naturalWidth") > 600


def test_clicking_a_header_sorts_numerically_with_missing_values_last(page):
    measured = "table.measured[data-group='P1']"
    _click_header(page, measured, "CLIP score")
    assert _column(page, measured, 1) == ["avatar", "dmt", "amg", "ground-truth", "frozen"]
    _click_header(page, measured, "CLIP score")
    assert _column(page, measured, 1) == ["ground-truth", "amg", "dmt", "avatar", "frozen"]
    _click_header(page, measured, "Motion fidelity (DMT)")
    assert _column(page, measured, 1) == ["frozen", "dmt", "amg", "ground-truth", "avatar"]
    _click_header(page, measured, "Motion fidelity (chamfer)")  # 0 < 58 < 71 < 100: numeric, not text
    assert _column(page, measured, 1) == ["frozen", "dmt", "amg", "ground-truth", "avatar"]
    _click_header(page, measured, "Method")
    assert _column(page, measured, 1) == ["amg", "avatar", "dmt", "frozen", "ground-truth"]
    _click_header(page, "table.reported", "Motion fidelity (DMT)")
    assert _column(page, "table.reported", 0) == ["MagicAnimate", "DMT", "AMG", "Ground Truth"]


def test_every_gallery_video_loads_and_plays(page):
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    state = (
        "return Array.from(document.querySelectorAll('table.gallery video')).map(function (v) {"
        " return {src: v.getAttribute('src'), ready: v.readyState, width: v.videoWidth,"
        " error: v.error && v.error.code, paused: v.paused}; });"
    )

    def settled(d, condition):
        with contextlib.suppress(TimeoutException):  # the assertions below show each video's state
            WebDriverWait(d, 20).until(lambda d: all(condition(v) for v in d.execute_script(state)))
        return d.execute_script(state)

    videos = settled(page, lambda v: v["ready"] >= 2 and v["width"] > 0)
    # 2 clips x (real, avatar, amg, dmt, frozen), less dmt's failed clip, whose cell says why
    expected = {
        f"videos/{c}/{clip}.mp4" for c in ("real", "avatar", "m00-amg", "m01-dmt", "m04-frozen") for clip in CLIPS[:2]
    } - {f"videos/m01-dmt/{CLIPS[1]}.mp4"}
    assert {v["src"] for v in videos} == expected, videos
    notes = page.execute_script("return Array.from(document.querySelectorAll('div.no-video')).map(d => d.textContent)")
    assert notes == ["failed: generate: RuntimeError: out of memory"]
    assert all(v["ready"] >= 2 and v["width"] == 64 and v["error"] is None for v in videos), videos
    # chromium pauses muted autoplay videos while they are off screen; in view they play
    page.execute_script("document.querySelector('table.gallery').scrollIntoView();")
    videos = settled(page, lambda v: not v["paused"])
    assert not any(v["paused"] for v in videos), videos
