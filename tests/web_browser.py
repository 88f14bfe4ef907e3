"""A real headless Chromium (Debian's chromium and chromium-driver) driven by Selenium, for
the web page's tests. Nothing is downloaded: the browser, its driver and axe-core (from
``npm ci`` in tests/browser) must already be on the machine."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from conftest import missing_tool

AXE = Path(__file__).parent / "browser" / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--lang=en-GB",
)

# Installed in every document before its own scripts run: records what the page's CSP
# blocked (an inline script or style that slipped in would show here).
WATCH_CSP = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
  e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + (e.sourceFile || '') + ':' + e.lineNumber));
"""


def tools() -> tuple[str, str]:
    browser = shutil.which("chromium") or "/usr/bin/chromium"
    driver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    if not os.path.exists(browser):
        missing_tool("chromium", "apt-get install chromium")
    if not os.path.exists(driver):
        missing_tool("chromedriver", "apt-get install chromium-driver")
    return browser, driver


class Browser:
    def __init__(self, base_url: str, downloads: Path, size: tuple[int, int] = (1280, 800)):
        os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not look for a browser to download
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        browser, driver = tools()
        self.base_url = base_url.rstrip("/") + "/"
        self.profile = tempfile.mkdtemp(prefix="frd-chromium-")
        self.downloads = Path(downloads)
        self.downloads.mkdir(parents=True, exist_ok=True)
        options = webdriver.ChromeOptions()
        options.binary_location = browser
        for flag in CHROMIUM_FLAGS + (f"--user-data-dir={self.profile}", f"--window-size={size[0]},{size[1]}"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(service=Service(driver), options=options)
        self.driver.set_script_timeout(60)
        self.cdp("Page.addScriptToEvaluateOnNewDocument", source=WATCH_CSP)
        self.cdp("Browser.setDownloadBehavior", behavior="allow", downloadPath=str(self.downloads))

    def cdp(self, command: str, **params):
        return self.driver.execute_cdp_cmd(command, params)

    def quit(self) -> None:
        self.driver.quit()
        shutil.rmtree(self.profile, ignore_errors=True)

    # ----- navigation and waiting ------------------------------------------------------------
    def open(self, route: str = "") -> None:
        self.driver.get(self.base_url + (f"#/{route}" if route else ""))

    def go(self, route: str) -> None:
        """Change the route inside the page (no reload: the page's state stays)."""
        self.driver.execute_script("location.hash = arguments[0]", f"#/{route}")

    def wait(self, condition, timeout: float = 60.0, what: str = "condition"):
        deadline = time.monotonic() + timeout
        last_error = None
        while time.monotonic() < deadline:
            try:
                value = condition()
                if value:
                    return value
            except Exception as exc:  # the element is not there yet
                last_error = exc
            time.sleep(0.1)
        raise AssertionError(
            f"timed out after {timeout}s waiting for {what} (last error: {last_error!r}); "
            f"page text: {self.text()[:1500]}"
        )

    def css(self, selector: str):
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, selector)

    def all(self, selector: str):
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, selector)

    def xpath(self, expression: str):
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.XPATH, expression)

    def button(self, text: str, within: str = "body"):
        for el in self.all(f"{within} button, {within} label.button"):
            if el.text.strip() == text and el.is_displayed():
                return el
        raise LookupError(f"no button {text!r}")

    def click(self, text: str, within: str = "body") -> None:
        self.wait(lambda: self.button(text, within), what=f"button {text!r}").click()

    def text(self, selector: str = "body") -> str:
        try:
            return self.css(selector).text
        except Exception:
            return ""

    def js(self, script: str, *args):
        return self.driver.execute_script(script, *args)

    def screenshot(self, path: Path, full_page: bool = True) -> Path:
        """A PNG of the page; the whole page height when full_page (width unchanged)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        if full_page:
            metrics = self.cdp("Page.getLayoutMetrics")
            width = self.js("return window.innerWidth")
            height = int(min(metrics["cssContentSize"]["height"], 4000))
            self.cdp(
                "Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False
            )
            try:
                time.sleep(0.3)  # the charts redraw at the new size
                self.driver.save_screenshot(str(path))
            finally:
                self.reset_size()
        else:
            self.driver.save_screenshot(str(path))
        return path

    def resize(self, width: int | None, height: int | None = None) -> None:
        """Show the page in a window of this size (None: the browser's own window again)."""
        self.size = (width, height) if width else None
        self.reset_size()

    def reset_size(self) -> None:
        if getattr(self, "size", None):
            width, height = self.size
            self.cdp(
                "Emulation.setDeviceMetricsOverride",
                width=width,
                height=height,
                deviceScaleFactor=1,
                mobile=width < 600,
            )
        else:
            self.cdp("Emulation.clearDeviceMetricsOverride")

    # ----- what the page did -----------------------------------------------------------------
    def csp_violations(self) -> list[str]:
        return self.js("return window.__csp || []")

    def console_errors(self, allowed=()) -> list[str]:
        """SEVERE console messages, except the answers a test provoked on purpose (e.g. 401)."""
        out = []
        for entry in self.driver.get_log("browser"):
            if entry["level"] != "SEVERE":
                continue
            if any(a in entry["message"] for a in allowed):
                continue
            out.append(entry["message"])
        return out

    def axe(self, context: str = "document") -> list[dict]:
        """axe-core's violations on the current page (WCAG 2.x A and AA and best practices)."""
        if not AXE.is_file():
            missing_tool("axe-core", "npm ci --prefix tests/browser")
        if not self.js("return typeof window.axe !== 'undefined'"):
            self.js(AXE.read_text(encoding="utf-8"))
        result = self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "axe.run(" + context + ", {resultTypes: ['violations']}).then("
            "  r => done(JSON.stringify(r.violations)),"
            "  e => done(JSON.stringify([{id: 'axe-error', impact: 'critical', help: String(e)}])));"
        )
        return json.loads(result)

    def throttle_upload(self, bytes_per_second: float | None) -> None:
        """Slow the browser's uploads down (to watch the progress), or back to full speed."""
        self.cdp("Network.enable")
        if bytes_per_second is None:
            self.cdp(
                "Network.emulateNetworkConditions", offline=False, latency=0, downloadThroughput=-1, uploadThroughput=-1
            )
        else:
            self.cdp(
                "Network.emulateNetworkConditions",
                offline=False,
                latency=0,
                downloadThroughput=-1,
                uploadThroughput=bytes_per_second,
            )

    def wait_download(self, prefix: str, timeout: float = 30.0) -> Path:
        def done():
            files = [p for p in self.downloads.glob(prefix + "*") if not p.name.endswith(".crdownload")]
            return files[0] if files else None

        return self.wait(done, timeout, what=f"a download named {prefix}*")
