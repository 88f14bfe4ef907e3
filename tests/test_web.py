"""The web page, end to end: a real `frd serve` with two API keys on 127.0.0.1, driven in
Debian's headless Chromium through Selenium, the way a person uses it — files chosen in
the page's own file inputs, buttons clicked, results read off the screen.

Screenshots of the main screens go to $FRD_SCREENSHOT_DIR (default: a folder of the test
run, printed at the end); docs/web-result.png in the repository is one of them.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import numpy as np
import pytest
from api_server import Server
from conftest import textured, write_png
from web_browser import Browser, tools

import frd

KEY_A, KEY_B = "alpha-key-7f3e9c", "bravo-key-2d81aa"
HOSTILE_FILE = "<img src=x onerror=alert(1)>.png"
HOSTILE_FOLDER = "<svg onload=alert(2)>"
# Answers some tests provoke on purpose: the sign-in probe's 401, a refused upload, a missing report.
EXPECTED_HTTP = ("401 (Unauthorized)", "422 (Unprocessable", "404 (Not Found)")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tools()  # fail (CI) or skip (a laptop without chromium) before starting anything
    srv = Server(
        tmp_path_factory.mktemp("web") / "data",
        env={"FRD_API_KEYS": f"{KEY_A},{KEY_B}", "FRD_WORKERS": "2", "FRD_JOB_SLOTS": "2"},
    ).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("FRD_SCREENSHOT_DIR") or tmp_path_factory.mktemp("web-screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser(server, tmp_path_factory):
    b = Browser(server.url, tmp_path_factory.mktemp("downloads"))
    yield b
    b.quit()


@pytest.fixture(scope="module")
def cli_value(fixtures_2d, tmp_path_factory):
    """`frd compare d1 d2 --json`, started at once in its own process; ask for its value later."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "frd",
            "compare",
            *map(str, fixtures_2d),
            "--json",
            "-q",
            "--cache-dir",
            str(tmp_path_factory.mktemp("cli-cache")),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def value() -> float:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        return json.loads(out)["frd"]

    yield value
    if proc.poll() is None:
        proc.kill()


@pytest.fixture(scope="module")
def state():
    """What one test leaves for the next (ids of what was made through the page)."""
    return {}


def sign_in(b: Browser, key: str) -> None:
    b.open()
    b.wait(lambda: b.all("#api-key") or b.all("button.secondary.small"), what="the sign-in form or the page")
    if not b.all("#api-key"):  # signed in already: sign out first
        b.click("Sign out")
        b.wait(lambda: b.all("#api-key"), what="the sign-in form")
    b.css("#api-key").send_keys(key)
    b.click("Sign in")
    b.wait(lambda: b.css("h1").text == "Compare two image sets", what="the comparison page")


def at(b: Browser, route: str, key: str = KEY_A) -> None:
    """Show `route`, signed in with `key` (each test can run on its own)."""
    if not b.driver.current_url.startswith(b.base_url) or b.js("return sessionStorage.getItem('frd.apiKey')") != key:
        sign_in(b, key)
    b.go(route)


def choose(b: Browser, role: str, option_text: str) -> None:
    """On the comparison page, choose a set (or statistics) already on the service."""
    if "Use another set" in b.text(card(role)):
        b.click("Use another set", card(role))

    def pick():  # the chooser is redrawn when the page's list of sets arrives: pick again if so
        select = b.css(f"{card(role)} select")
        next(o for o in select.find_elements("css selector", "option") if o.text.startswith(option_text)).click()
        return b.css(f"{card(role)} select option:checked").text.startswith(option_text)

    b.wait(pick, what=f"{option_text!r} chosen as the {role}")


def tick(b: Browser, name: str, on: bool) -> None:
    box = b.css(f"input[name={name}]")
    if box.is_selected() != on:
        b.js("const d = arguments[0].closest('details'); if (d) d.open = true;", box)
        box.click()


def compare(b: Browser, *, report: bool = False, ci: bool = False, button: str = "Compare") -> str:
    """Start the comparison set up on the page; wait for its value; return its id."""
    tick(b, "report", report)
    tick(b, "ci", ci)
    before = b.driver.current_url
    b.click(button)
    b.wait(
        lambda: "#/comparisons/job_" in b.driver.current_url and b.driver.current_url != before,
        timeout=120,
        what="the comparison's page",
    )
    b.wait(lambda: b.all("#frd-exact") or "failed" in b.text("#job-state"), timeout=400, what="the FRD value")
    return b.driver.current_url.rsplit("/", 1)[1]


def assert_clean(b: Browser) -> None:
    """Nothing was blocked by the page's CSP (no inline script or style slipped in) and no
    script error was logged."""
    assert b.csp_violations() == []
    assert b.console_errors(allowed=EXPECTED_HTTP) == []


def card(role: str) -> str:
    return f"section[data-role={role}]"


def at_a_fresh_set_card(b: Browser) -> None:
    """Show the image sets page with its upload card ready to pick files, whatever state an
    earlier test (passed or failed) left the card in: the tab keeps the card's state."""
    at(b, "data")
    b.wait(lambda: b.css("h1").text == "Image sets", what="the image sets page")
    for leave in ("Use another set", "Start over"):
        if any(el.text.strip() == leave and el.is_displayed() for el in b.all(f"{card('set')} button")):
            b.click(leave, card("set"))
    b.wait(lambda: b.css(f"{card('set')} .dropzone"), what="the upload card ready to pick files")


# ----- the page is served, self-contained and locked down -------------------------------------
def test_page_is_served_with_a_strict_policy_and_loads_nothing_from_elsewhere(server):
    r = httpx.get(server.url + "/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'" and directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'" and directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    html = r.text
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "inline script"
    assert "<style" not in html and not re.search(r"\sstyle=", html), "inline style"
    assert not re.search(r"\son[a-z]+=", html), "inline event handler"
    static = Path(__file__).resolve().parents[1] / "api" / "static"
    names = sorted(p.name for p in static.iterdir())
    assert {"index.html", "app.js", "app.css"} <= set(names)
    for name in names:
        text = (static / name).read_text(encoding="utf-8")
        # No host but the SVG namespace's is named: the page works without any network.
        assert re.findall(r"https?://(?!www\.w3\.org/2000/svg)[^\s\"'`)]+", text) == [], name
        # Nothing parses text as markup or code.
        assert not re.search(
            r"\.(inner|outer)HTML\s*=|insertAdjacentHTML|document\.write|\beval\(|new Function", text
        ), name
        got = httpx.get(f"{server.url}/static/{name}")
        assert got.status_code == 200 and got.content == (static / name).read_bytes()
        assert got.headers["x-content-type-options"] == "nosniff"
    assert httpx.get(server.url + "/static/app.js").headers["content-type"].startswith("text/javascript")
    api = httpx.get(server.url + "/v1/datasets", headers={"Authorization": f"Bearer {KEY_A}"})
    assert api.headers["content-security-policy"].startswith("default-src 'none'")
    assert api.headers["cache-control"] == "no-store"


def test_the_package_data_ships_every_file_of_the_page():
    """`pip install .` installs what the page is made of (.ci/run also fetches the page from
    a service installed that way)."""
    import fnmatch

    import tomllib

    root = Path(__file__).resolve().parents[1]
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["api"]
    for path in sorted((root / "api" / "static").rglob("*")):
        if path.is_file():
            rel = path.relative_to(root / "api").as_posix()
            assert any(fnmatch.fnmatch(rel, p) for p in patterns), f"{rel} is not in the package data"


# ----- the main path: two folders in, the CLI's value out ---------------------------------------
def test_upload_two_folders_compare_and_read_the_cli_value(server, browser, fixtures_2d, cli_value, shots, state):
    b = browser
    sign_in(b, KEY_A)
    # The key is kept for this tab only: not in the address, not in storage that outlives it.
    assert KEY_A not in b.driver.current_url
    assert b.js("return localStorage.length") == 0
    assert b.js("return sessionStorage.getItem('frd.apiKey')") == KEY_A
    b.screenshot(shots / "web-empty.png")

    d1, d2 = fixtures_2d
    b.all(f"{card('reference')} input[type=file]")[0].send_keys(str(d1))  # "Choose a folder"
    b.all(f"{card('candidate')} input[type=file]")[0].send_keys(str(d2))
    b.wait(lambda: b.css(f"{card('candidate')} .set-name input").get_attribute("value") == "d2", what="d2 picked")
    assert b.css(f"{card('reference')} .set-name input").get_attribute("value") == "d1"
    assert "10 image files" in b.text(card("reference"))
    b.css("input[name=ci]").click()
    resamples = b.css("input[name=bootstrap]")
    resamples.clear()
    resamples.send_keys("20")
    b.css("input[name=report]").click()  # the report is tested on its own below

    # Slow the upload down to watch its progress, in bytes, per set.
    b.throttle_upload(30_000)
    b.click("Upload and compare")
    progress = b.wait(
        lambda: re.search(r"([\d.]+ KB) of ([\d.]+ KB) sent \((\d+) %\)", b.text(card("reference"))),
        what="upload progress",
    )
    assert 0 <= int(progress.group(3)) < 100
    b.wait(lambda: 10 < int(re.search(r"\((\d+) %\)", b.text(card("reference"))).group(1)), what="progress moving")
    assert "sent" in b.text(card("candidate"))
    b.wait(
        lambda: re.search(r"Uploading the image sets: [\d.]+ KB of [\d.]+ KB sent", b.text("#compare-status")),
        what="both sets' progress by the button",
    )
    b.js("window.scrollTo(0, 0)")
    b.screenshot(shots / "web-upload.png", full_page=False)
    b.throttle_upload(None)

    b.wait(lambda: "#/comparisons/job_" in b.driver.current_url, what="the comparison's page", timeout=120)
    state["comparison"] = b.driver.current_url.rsplit("/", 1)[1]
    b.wait(lambda: b.all("#job-state") or b.all("#frd-value"), what="the job's state")
    value_el = b.wait(lambda: b.css("#frd-exact"), timeout=300, what="the FRD value")
    exact = float(value_el.text)
    assert exact == cli_value()  # the page shows the service's value, which is the CLI's, exactly
    assert b.css("#frd-value").text == f"{exact:.4g}"
    text = b.text("main")
    assert "Comparison of d1 and d2" in text
    assert re.search(r"95 % confidence interval [\d.]+ – [\d.]+ \(20 bootstrap resamples\)", text)
    assert "d1 — 10 images used" in text and "d2 — 10 images used" in text
    assert "No file was skipped" in text
    assert "Where the distance comes from" in text and "mean term" in text
    charts = b.all("figure svg[role=img]")
    assert len(charts) == 3  # the mean/covariance split, by feature class, by filter
    assert len(b.all("figure svg rect")) > 20
    assert any("GLSZM" in t.text for t in b.all("figure svg text"))
    assert any("wavelet" in t.text for t in b.all("figure svg text"))
    b.screenshot(shots / "web-result.png")

    # The result as JSON: the service's own result, saved by the browser.
    b.click("Download the result (JSON)")
    saved = json.loads(b.wait_download("frd-result-").read_text())
    api = httpx.get(
        f"{server.url}/v1/comparisons/{state['comparison']}", headers={"Authorization": f"Bearer {KEY_A}"}
    ).json()
    assert saved == api and saved["frd"] == exact
    b.click("Download the full report (HTML)")  # none was asked for: the page says so
    b.wait(lambda: "has no report" in b.text(".download-note"), what="the no-report note")
    assert_clean(b)


def test_a_comparison_with_its_report_from_sets_already_on_the_service(server, browser, state):
    b = browser
    at(b, "")
    b.wait(lambda: b.css("h1").text == "Compare two image sets", what="the comparison page")
    # The sets of the last comparison are still chosen: choose them again from the list.
    for role, name in (("reference", "d1"), ("candidate", "d2")):
        choose(b, role, name + " —")
        b.wait(lambda role=role: "Features ready" in b.text(card(role)), what=f"{name}'s features")
    job = compare(b, report=True)
    b.click("Download the full report (HTML)")
    report = b.wait_download(f"frd-report-{job}").read_text()
    assert report.lower().startswith("<!doctype html>") and "<img " in report
    # The report as served carries its own policy: its styles and images, never a script.
    policy = httpx.get(
        f"{server.url}/v1/comparisons/{job}/report", headers={"Authorization": f"Bearer {KEY_A}"}
    ).headers["content-security-policy"]
    assert "sandbox" in policy and "script-src" not in policy
    assert_clean(b)


def test_watch_a_running_comparison_and_cancel_it(server, browser, state, tmp_path):
    """A candidate of 400 images, extracted with every filter (not in the feature cache),
    runs long enough to watch its progress and cancel it."""
    b = browser
    n = 400
    rng = np.random.default_rng(23)
    files = []
    for i in range(n):
        path = write_png(tmp_path / f"slice{i:03d}.png", textured(rng, size=96))
        files.append(("files", (path.name, path.read_bytes(), "image/png")))
    options = {
        "image_types": ["Original", "LoG", "Wavelet", "Square", "SquareRoot", "Logarithm", "Exponential", "Gradient"],
        "log_sigma": [1.0, 2.0, 3.0, 4.0, 5.0],
    }
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {KEY_A}"}, timeout=120) as c:
        big = c.post("/v1/datasets", files=files, data={"name": "four hundred"}).json()["id"]
        reference = c.get(f"/v1/comparisons/{state['comparison']}/summary").json()["reference"]["id"]
        job = c.post(
            "/v1/comparisons", json={"reference": reference, "candidate": big, "report": False, "options": options}
        ).json()
        at(b, f"comparisons/{job['id']}")
        progress = b.wait(
            lambda: re.search(r"Images extracted: (\d+) of (\d+)", b.text("main")), what="the extraction's progress"
        )
        assert int(progress.group(1)) < int(progress.group(2)) == n + 10
        assert b.css("#job-state").text == "Running" and re.search(r"Elapsed: \d+ s", b.text("main"))
        assert b.css("#job-progress").get_attribute("max") == str(n + 10)
        b.click("Cancel the comparison")
        b.wait(lambda: "was cancelled" in b.text("main"), timeout=120, what="the cancellation")
        assert b.css("#job-state").text == "Cancelled"
        assert c.get(f"/v1/jobs/{job['id']}").json()["state"] == "cancelled"
        assert c.delete(f"/v1/datasets/{big}").status_code == 204  # and its own extraction with it
    assert_clean(b)


def test_history_lists_every_comparison_and_opens_one(browser, state):
    b = browser
    at(b, "comparisons")
    b.wait(
        lambda: len(b.all("#comparisons tbody tr")) >= 3 and "cancelled" in b.text("#comparisons"),
        what="three comparisons, one cancelled",
    )
    text = b.text("#comparisons")
    assert "d1" in text and "d2" in text
    first = f"#comparisons tr[data-id='{state['comparison']}']"
    assert re.search(r"^[\d.]+ \[[\d.]+ – [\d.]+\]$", b.text(f"{first} td:last-child"))  # value [CI]
    b.wait(lambda: b.css(f"{first} a").click() or True, what="the first comparison opened")
    b.wait(lambda: b.all("#frd-exact"), what="the opened comparison")
    assert_clean(b)


def test_warnings_are_told_in_plain_words(browser, fixtures_2d, tmp_path):
    """Real sets in different units (the candidate divided by 255, as NRRD) give the units
    warning on the page; the degenerate-feature warnings, which real images rarely give,
    are rendered from the library's own result for the case its tests build."""
    import SimpleITK as sitk

    from frd.featureset import FeatureSet
    from frd.inputs import ImageItem

    b = browser
    d1, d2 = fixtures_2d
    unit = tmp_path / "unit"
    unit.mkdir()
    for path in sorted(d2.glob("*.png")):
        sitk.WriteImage(sitk.ReadImage(str(path), sitk.sitkFloat32) / 255.0, str(unit / (path.stem + ".nrrd")))
    at(b, "")
    b.wait(lambda: b.css("h1").text == "Compare two image sets", what="the comparison page")
    choose(b, "reference", "d1 —")
    if "Use another set" in b.text(card("candidate")):
        b.click("Use another set", card("candidate"))
    b.css(f"{card('candidate')} input[type=file]:not([webkitdirectory])").send_keys(
        "\n".join(str(p) for p in sorted(unit.iterdir()))
    )
    b.css(f"{card('candidate')} .set-name input").send_keys("d2 in 0-1")
    compare(b, button="Upload and compare")
    box = b.css(".warning")
    assert box.find_element("css selector", "h3").text == "The two sets seem to be in different units"
    assert "Rescale one set to the other's range" in box.text
    # The degenerate case of the library's tests, as the service would send it.
    rng = np.random.default_rng(0)
    names = ["firstorder_Mean", "glcm_Contrast", "wavelet-HL_firstorder_Mean"]
    ref = np.column_stack([rng.normal(100, 10, 30), rng.normal(5, 1, 30), rng.normal(0, 1e-17, 30)])
    cand = np.column_stack([rng.normal(104, 10, 30), rng.normal(5.5, 1, 30), rng.normal(0.1, 0.02, 30)])

    def fake(rows):
        items = [ImageItem(name=f"i{i}.png", files=(f"/nowhere/i{i}.png",)) for i in range(len(rows))]
        return FeatureSet(items=items, names=tuple(names), values=rows, ndim=2)

    result = frd.compare_features(fake(ref), fake(cand)).to_dict()
    shown = json.loads(
        b.driver.execute_async_script(
            """
        const [result, done] = arguments;
        import('./static/result.js').then(m => done(JSON.stringify(result.warnings.map(w => {
          const box = m.warningBox(w, result);
          return [box.querySelector('h3').textContent, box.querySelector('p').textContent];
        }))));
    """,
            result,
        )
    )
    assert shown[0][0] == "Part of this value may be numerical noise"
    assert shown[0][1].startswith("1 measurement hardly varies at all across the reference images.")
    assert shown[0][1].endswith(f"Without it, the value is {result['robust']['frd']:.4g}.")
    assert shown[1][0] == "One measurement dominates"
    assert "(wavelet-HL_firstorder_Mean) makes up 100 % of the distance" in shown[1][1]
    assert "Here it carries 100 % of the value." in shown[0][1]
    # Flagged features that carry almost nothing of d² are not called a danger.
    faint = {**result["warnings"][0], "share_of_d2": -0.0004}
    title, text = json.loads(
        b.driver.execute_async_script(
            """
        const [w, result, done] = arguments;
        import('./static/result.js').then(m => {
          const box = m.warningBox(w, result);
          done(JSON.stringify([box.querySelector('h3').textContent, box.querySelector('p').textContent]));
        });
    """,
            faint,
            result,
        )
    )
    assert title == "A few measurements are numerical noise"
    assert "Here it carries only 0 % of the value, so the value rests on the other measurements." in text
    assert_clean(b)


# ----- file names are data; rejected files say why --------------------------------------------
@pytest.fixture(scope="module")
def hostile_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hostile") / HOSTILE_FOLDER
    rng = np.random.default_rng(3)
    write_png(folder / HOSTILE_FILE, textured(rng))
    write_png(folder / "plain.png", textured(rng))
    write_png(folder / "sub" / "deeper.png", textured(rng))
    (folder / "notes.txt").write_text("not an image\n")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    return folder


def test_hostile_names_render_as_text_and_rejected_files_show_why(browser, hostile_folder, state):
    b = browser
    at_a_fresh_set_card(b)
    b.css(f"{card('set')} input[type=file]").send_keys(str(hostile_folder))
    b.wait(lambda: "hidden file left out" in b.text(card("set")), what="the picked folder")
    assert b.css(f"{card('set')} .set-name input").get_attribute("value") == HOSTILE_FOLDER
    b.click("Upload", card("set"))
    b.wait(lambda: "uploaded" in b.text(card("set")), what="the verdicts")
    text = b.text(card("set"))
    assert "3 images accepted, 2 files rejected" in text
    rejected = {
        r.find_element("css selector", "th").text: r.find_element("css selector", "td").text
        for r in b.all(f"{card('set')} .rejected tbody tr")
    }
    assert set(rejected) == {"notes.txt", "broken.png"}
    assert "not a supported image" in rejected["notes.txt"]
    assert "corrupt" in rejected["broken.png"] or "truncated" in rejected["broken.png"]
    b.css(f"{card('set')} details.accepted summary").click()
    # The list is drawn by the details' toggle event, which the browser fires after the click.
    accepted = lambda: sorted(th.text for th in b.all(f"{card('set')} details.accepted tbody th"))  # noqa: E731
    b.wait(lambda: accepted(), what="the accepted files listed")
    assert accepted() == sorted([HOSTILE_FILE, "plain.png", "sub/deeper.png"])  # sub-folders kept
    # The set's name in the list of sets, too, is text.
    b.wait(lambda: any(th.text == HOSTILE_FOLDER for th in b.all("#datasets tbody th")), what="the set in the list")
    # Nothing of the names became markup: no image, no handler, no alert.
    assert b.js("return document.querySelectorAll('img').length") == 0
    assert (
        b.js(
            "return [...document.querySelectorAll('*')]"
            ".filter(e => [...e.attributes].some(a => a.name.startsWith('on'))).length"
        )
        == 0
    )
    from selenium.common.exceptions import NoAlertPresentException

    with pytest.raises(NoAlertPresentException):
        _ = b.driver.switch_to.alert.text
    # A set of which no file is an image is refused as a whole, each file with its reason.
    b.click("Use another set", card("set"))
    b.css(f"{card('set')} input[type=file]:not([webkitdirectory])").send_keys(str(hostile_folder / "notes.txt"))
    b.click("Upload", card("set"))
    b.wait(lambda: "The upload failed" in b.text(card("set")), what="the refusal")
    assert "no uploaded file was accepted as an image" in b.text(card("set"))
    assert "notes.txt" in b.text(f"{card('set')} .rejected")
    b.click("Start over", card("set"))
    assert_clean(b)


def test_masks_are_paired_by_name_and_skipped_images_say_why(server, browser, tmp_path):
    """A folder or zip holding images/ and masks/ gives images and masks, paired by the
    service; an image whose mask is empty is skipped, and the result says so and why."""
    b = browser
    rng = np.random.default_rng(5)
    mask = np.zeros((48, 48), np.uint8)
    mask[8:40, 10:38] = 1
    root = tmp_path / "with-masks"
    for i in range(10):
        write_png(root / "images" / f"case{i}.png", textured(rng))
        write_png(root / "masks" / f"case{i}_mask.png", mask if i else np.zeros_like(mask))
    archive = tmp_path / "zipped-set.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for i in range(1, 4):
            for rel in (f"images/case{i}.png", f"masks/case{i}_mask.png"):
                z.write(root / rel, rel)
    at_a_fresh_set_card(b)
    b.css(f"{card('set')} input[type=file]").send_keys(str(root))
    b.wait(lambda: "10 image files and 10 masks" in b.text(card("set")), what="images and masks")
    b.click("Upload", card("set"))
    b.wait(lambda: "10 images and 10 masks accepted" in b.text(card("set")), what="the paired upload")
    b.wait(lambda: any("(+10 masks)" in td.text for td in b.all("#datasets tbody td")), what="the masks in the list")
    b.wait(lambda: "1 image skipped" in b.text("#datasets"), what="the extraction's skipped image")
    b.click("Use another set", card("set"))
    # Compared, the skipped image is named with its reason.
    at(b, "")
    b.wait(lambda: b.css("h1").text == "Compare two image sets", what="the comparison page")
    choose(b, "reference", "d1 —")
    choose(b, "candidate", "with-masks —")
    tick(b, "robust", True)  # an advanced option, too, reaches the service
    job = compare(b)
    assert "FRD v1, robust" in b.text(".facts")
    assert (
        httpx.get(f"{server.url}/v1/comparisons/{job}", headers={"Authorization": f"Bearer {KEY_A}"}).json()["options"][
            "robust"
        ]
        is True
    )
    rows = [
        [c.text for c in r.find_elements("css selector", "th, td")]
        for r in b.all("main table tbody tr")
        if "case0.png" in r.text
    ]
    assert rows and rows[0][:2] == ["case0.png", "candidate"] and "labelled voxel" in rows[0][2], rows
    assert "9 images used" in b.text(".facts")
    at(b, "")
    tick(b, "robust", False)  # the form keeps its state for the tab's life
    at(b, "data")
    b.wait(lambda: b.css("h1").text == "Image sets", what="the image sets page")
    b.css(f"{card('set')} input[type=file]:not([webkitdirectory])").send_keys(str(archive))
    b.wait(lambda: "One zip archive (zipped-set.zip)" in b.text(card("set")), what="the zip picked")
    assert b.css(f"{card('set')} .set-name input").get_attribute("value") == "zipped-set"
    b.click("Upload", card("set"))
    b.wait(
        lambda: "zipped-set uploaded: 3 images and 3 masks accepted" in b.text(card("set")), what="the zip's verdicts"
    )  # images/ and masks/ inside the archive
    b.click("Use another set", card("set"))
    assert_clean(b)


def test_files_dropped_on_the_page_are_a_set(browser, fixtures_2d):
    """Drag and drop: files dropped on a set's drop zone are picked like chosen ones."""
    import base64

    b = browser
    at_a_fresh_set_card(b)
    files = [[p.name, base64.b64encode(p.read_bytes()).decode()] for p in sorted(fixtures_2d[0].glob("*.png"))[:3]]
    b.js(
        """
        const [zone, files] = arguments;
        const data = new DataTransfer();
        for (const [name, b64] of files) {
          const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
          data.items.add(new File([bytes], name, {type: 'image/png'}));
        }
        zone.dispatchEvent(new DragEvent('dragover', {dataTransfer: data, bubbles: true, cancelable: true}));
        zone.dispatchEvent(new DragEvent('drop', {dataTransfer: data, bubbles: true, cancelable: true}));
    """,
        b.css(f"{card('set')} .dropzone"),
        files,
    )
    b.wait(lambda: "3 image files" in b.text(card("set")), what="the dropped files")
    name = b.css(f"{card('set')} .set-name input")
    name.send_keys("dropped")
    b.click("Upload", card("set"))
    b.wait(lambda: "dropped uploaded: 3 images accepted" in b.text(card("set")), what="the dropped set's verdicts")
    b.click("Use another set", card("set"))
    assert_clean(b)


# ----- large sets do not freeze the tab ----------------------------------------------------------
def test_a_large_set_uploads_without_freezing_the_tab(browser, tmp_path):
    b = browser
    n = 2000
    folder = tmp_path / "large-set"
    folder.mkdir()
    rng = np.random.default_rng(11)
    for i in range(n):
        write_png(folder / f"slice{i:04d}.png", rng.integers(0, 255, (12, 12), dtype=np.uint8))
    at_a_fresh_set_card(b)
    b.css(f"{card('set')} input[type=file]").send_keys(str(folder))
    b.wait(lambda: f"{n:,} image files" in b.text(card("set")), what="the picked folder")
    # From here on (the browser and WebDriver have listed the folder's files), a heartbeat on
    # the page's main thread: the longest gap between its ticks is how long the tab froze.
    b.js(
        "window.__gap = 0; let last = performance.now();"
        "window.__beat = setInterval(() => {"
        "  const t = performance.now(); window.__gap = Math.max(window.__gap, t - last); last = t; }, 50);"
    )
    b.click("Upload", card("set"))
    b.wait(
        lambda: re.search(r"[\d.]+ [KM]B (of [\d.]+ [KM]B sent|sent — the service is checking)", b.text(card("set"))),
        what="the upload's progress",
    )
    b.wait(lambda: f"{n:,} images accepted" in b.text(card("set")), timeout=300, what="the verdicts")
    b.css(f"{card('set')} details.accepted summary").click()
    rows = lambda: len(b.all(f"{card('set')} details.accepted tbody tr"))  # noqa: E731
    b.wait(lambda: rows() == 200, what="the first 200 accepted files")  # drawn a page at a time
    b.click("Show 200 more of 1800 remaining", card("set"))
    b.wait(lambda: rows() == 400, what="200 more")
    gap = b.js("clearInterval(window.__beat); return window.__gap")
    assert gap < 1000, f"the page's main thread was blocked for {gap:.0f} ms"
    # Delete it again (its extraction is cancelled with it), through the dialog.
    # Its row is redrawn while its extraction runs: find and click in one go (again if redrawn).
    b.wait(
        lambda: (
            next(r for r in b.all("#datasets tbody tr") if f"{n}" in r.text and "large-set" in r.text)
            .find_element("css selector", "button.danger")
            .click()
            or True
        ),
        what="its delete button",
    )
    dialog = b.wait(lambda: b.css("dialog[open]"), what="the confirmation")
    assert "large-set" in dialog.text and f"{n:,} images" in dialog.text
    b.click("Delete", "dialog[open]")
    b.wait(lambda: "Deleted “large-set”" in b.text("main"), what="the deletion confirmed")
    b.wait(lambda: not any("large-set" in r.text for r in b.all("#datasets tbody tr")), what="the row gone")
    b.click("Use another set", card("set"))
    assert_clean(b)


# ----- datasets, statistics, OOD -------------------------------------------------------------------
def test_sets_list_their_details_and_statistics_can_be_kept_used_and_deleted(browser, cli_value):
    b = browser
    at(b, "data")

    def row(name):
        return next(r for r in b.all("#datasets tbody tr") if r.find_element("css selector", "th").text == name)

    cells = b.wait(lambda: [td.text for td in row("d1").find_elements("css selector", "td")], what="d1 in the list")
    assert cells[0] == "10" and cells[1] == "2D" and cells[2].endswith("KB") and cells[4].startswith("ready")
    b.wait(
        lambda: row("d1").find_element("css selector", "button[data-action=keep]").click() or True,
        what="keep its statistics",
    )
    b.wait(lambda: "stored" in b.text("main"), timeout=120, what="the statistics")
    stats = b.wait(lambda: [r for r in b.all("#reference-stats tbody tr") if "d1" in r.text], what="the statistics row")
    assert [td.text for td in stats[0].find_elements("css selector", "td")][:3] == ["10", "393", "v1"]
    # Stored statistics serve as the reference: the same value as the set itself gives.
    at(b, "")
    b.wait(lambda: b.css("h1").text == "Compare two image sets", what="the comparison page")
    choose(b, "reference", "d1 — statistics of 10 images")
    choose(b, "candidate", "d2 —")
    assert "Stored reference statistics of 10 images" in b.text(card("reference"))
    compare(b)
    assert float(b.css("#frd-exact").text) == cli_value()
    at(b, "data")
    b.wait(
        lambda: (
            next(r for r in b.all("#reference-stats tbody tr") if "d1" in r.text)
            .find_element("css selector", "button.danger")
            .click()
            or True
        ),
        what="the statistics' delete button",
    )
    b.click("Delete", "dialog[open]")
    b.wait(lambda: not b.all("#reference-stats tbody tr"), what="the statistics deleted")
    assert_clean(b)


def test_ood_check_table_sorts_and_downloads(server, browser, state):
    b = browser
    at(b, "ood")
    b.wait(lambda: b.all("select[name=reference] option"), what="the OOD form")
    for name, value in (("reference", "d1"), ("test", "d2")):
        option = next(o for o in b.all(f"select[name={name}] option") if o.text.startswith(value + " —"))
        option.click()
    b.click("Run the check")
    b.wait(lambda: b.all("#ood-nfrd"), timeout=300, what="the OOD result")
    job = b.driver.current_url.rsplit("/", 1)[1]
    api = httpx.get(f"{server.url}/v1/ood/{job}", headers={"Authorization": f"Bearer {KEY_A}"}).json()
    assert b.css("#ood-nfrd").text == f"{api['nfrd']:.4g}"

    def names():
        return [th.text for th in b.all("table.sortable tbody th")]

    by_score = [i["name"] for i in sorted(api["images"], key=lambda i: i["score"])]
    assert names() == by_score[::-1]  # the most suspicious first
    header = b.css("table.sortable thead th:nth-child(2)")
    assert header.get_attribute("aria-sort") == "descending"
    header.find_element("css selector", "button").click()
    assert b.css("table.sortable thead th:nth-child(2)").get_attribute("aria-sort") == "ascending"
    assert names() == by_score
    b.click("Download the table (CSV)")
    rows = list(csv.DictReader(io.StringIO(b.wait_download(f"ood-{job}").read_text())))
    assert [r["file"] for r in rows] == [i["name"] for i in api["images"]]
    assert [float(r["score"]) for r in rows] == [i["score"] for i in api["images"]]
    state["ood"] = job
    assert_clean(b)


# ----- tenants, keys, keyboard, accessibility ------------------------------------------------------
def test_key_b_sees_nothing_of_key_a(browser, state):
    b = browser
    sign_in(b, KEY_B)
    assert b.js("return sessionStorage.getItem('frd.apiKey')") == KEY_B
    assert not b.all(f"{card('reference')} select")  # nothing on the service to choose from
    b.go("data")
    b.wait(lambda: "No image set yet" in b.text("main"), what="an empty list of sets")
    assert b.all("#datasets tbody tr") == [] and b.all("#reference-stats tbody tr") == []
    b.go("comparisons")
    b.wait(lambda: "No comparison yet" in b.text("main"), what="an empty history")
    b.go(f"comparisons/{state['comparison']}")
    b.wait(lambda: "not found" in b.text("main").lower(), what="A's comparison refused")
    b.go("ood")
    b.wait(lambda: b.all("#ood-checks"), what="the OOD page")
    assert b.all("#ood-checks tbody tr") == []
    # Signing out forgets the key.
    b.click("Sign out")
    b.wait(lambda: b.all("#api-key"), what="the sign-in form")
    assert b.js("return sessionStorage.length + localStorage.length") == 0
    b.css("#api-key").send_keys("not-a-key")
    b.click("Sign in")
    b.wait(lambda: "not accepted" in b.text("#signin-error"), what="a wrong key refused")
    assert_clean(b)


def test_every_control_is_reachable_by_keyboard(browser):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    b = browser
    sign_in(b, KEY_A)
    b.js("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0)")
    seen = []
    for _ in range(45):
        ActionChains(b.driver).send_keys(Keys.TAB).perform()  # a key press, as a person types it
        seen.append(
            b.js(
                "const e = document.activeElement; return [e.tagName, e.type || '',"
                " e.textContent.trim().slice(0, 40),"
                " e.labels && e.labels[0] ? e.labels[0].textContent.trim() : '',"
                " getComputedStyle(e).outlineStyle]"
            )
        )
    labels = [s[2] or s[3] for s in seen]
    for wanted in (
        "New comparison",
        "Comparisons",
        "Image sets",
        "Out-of-domain check",
        "Choose a folder",
        "Choose files or a .zip",
        "Add a 95 % confidence interval",
        "Compare",
    ):
        assert wanted in labels, (wanted, labels)
    assert sum(1 for s in seen if s[3] == "Choose a folder") >= 2  # one per set (the loop may go round twice)
    # Where the keyboard is shows: every focused control draws an outline.
    assert all(s[4] != "none" for s in seen if s[0] in ("INPUT", "BUTTON", "A", "SELECT", "SUMMARY")), seen


@pytest.mark.parametrize("width,height", [(1280, 800), (390, 844)], ids=["1280x800", "narrow"])
def test_no_serious_accessibility_violations_and_no_sideways_scrolling(browser, state, width, height, shots):
    b = browser
    b.resize(width, height)
    try:
        b.open()  # the sign-in form first
        b.js("sessionStorage.clear()")
        b.open()
        b.wait(lambda: b.all("#api-key"), what="the sign-in form")
        pages = {"sign-in": None}
        problems = {"sign-in": b.axe()}
        sign_in(b, KEY_A)
        for name, route, ready in (
            ("compare", "", "#compare-button"),
            ("result", f"comparisons/{state['comparison']}", "#frd-exact"),
            ("history", "comparisons", "#comparisons tbody tr"),
            ("data", "data", "#datasets tbody tr"),
            ("ood", "ood", "#ood-checks tbody tr"),
            ("ood-result", f"ood/{state['ood']}", "table.sortable"),
        ):
            b.go(route)
            b.wait(lambda ready=ready: b.all(ready), what=f"the {name} page")
            time.sleep(0.3)
            for details in b.all("main details:not([open]) > summary"):
                b.js("arguments[0].click()", details)  # what is folded away is checked too
            time.sleep(0.2)  # a frame for what opened to be laid out
            problems[name] = b.axe()
            pages[name] = b.js("return document.documentElement.scrollWidth - window.innerWidth")
            if width < 600 and name in ("compare", "result"):
                b.screenshot(shots / f"web-{name}-narrow.png")
        serious = {
            name: [
                (v["id"], v["impact"], v["help"], [n["target"] for n in v.get("nodes", [])][:3])
                for v in found
                if v["impact"] in ("serious", "critical")
            ]
            for name, found in problems.items()
        }
        assert all(not v for v in serious.values()), serious
        overflow = {name: px for name, px in pages.items() if px and px > 0}
        assert not overflow, f"pages wider than the {width}px window: {overflow}"
    finally:
        b.resize(None)
    assert_clean(b)


# ----- a service without keys ------------------------------------------------------------------------
def test_a_loopback_service_without_keys_needs_no_sign_in(tmp_path):
    tools()
    srv = Server(tmp_path / "data", env={"FRD_API_KEYS": ""}).start()
    b = Browser(srv.url, tmp_path / "downloads")
    try:
        b.open()
        b.wait(lambda: b.css("h1").text == "Compare two image sets", what="the comparison page")
        assert b.all("#api-key") == []
        assert "Open service" in b.text("#session")
        assert b.csp_violations() == [] and b.console_errors() == []
    finally:
        b.quit()
        srv.stop()
