"""An operator at the browser: opens the landing page by URL, then only clicks and types.

Every page reached is checked: not an error page, no script error in the browser's log, and no request to a host
other than this machine (read from Chromium's performance log, which records every request the page makes).
"""

import json
from urllib.parse import urlsplit

from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

LOCAL_HOSTS = {"127.0.0.1", "localhost"}
NOT_FETCHED_SCHEMES = {"data", "blob", "about", "chrome", "devtools"}
ERROR_TITLES = ("Not Found", "not found", "Server Error", "Forbidden", "Bad Request", "Page not found")


class Operator:
    """The browser as an operator drives it; `pages` lists the URLs it went through."""

    def __init__(self, driver: Chrome, base_url: str):
        self.driver = driver
        self.base_url = base_url
        self.pages: list[str] = []

    def open_landing(self) -> None:
        self.driver.get(self.base_url + "/")
        self._arrived()

    def click(self, element: WebElement) -> None:
        """Click something that loads a new page, and check that page."""
        self.driver.execute_script("window.__leaving = true")
        element.click()
        WebDriverWait(self.driver, 30).until(
            lambda d: d.execute_script("return window.__leaving === undefined && document.readyState === 'complete'")
        )
        self._arrived()

    def click_link(self, text: str) -> None:
        self.click(self.driver.find_element(By.LINK_TEXT, text))

    def click_css(self, selector: str) -> None:
        self.click(self.driver.find_element(By.CSS_SELECTOR, selector))

    def log_in(self, username: str, password: str) -> None:
        self.driver.find_element(By.NAME, "username").send_keys(username)
        self.driver.find_element(By.NAME, "password").send_keys(password)
        self.click(self.driver.find_element(By.CSS_SELECTOR, "input[type=submit]"))

    def check(self) -> None:
        """The current page's health: no script error and no outside request since the last check."""
        errors = [entry for entry in self.driver.get_log("browser") if entry["level"] == "SEVERE"]
        assert not errors, f"script errors on {self.driver.current_url}: {errors}"
        outside = [url for url in self.requested_urls() if not is_local(url)]
        assert not outside, f"{self.driver.current_url} requested hosts outside this machine: {outside}"

    def requested_urls(self) -> list[str]:
        urls = []
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.requestWillBeSent":
                urls.append(message["params"]["request"]["url"])
        return urls

    def _arrived(self) -> None:
        title = self.driver.title
        assert not any(word in title for word in ERROR_TITLES), f"error page at {self.driver.current_url}: {title}"
        self.pages.append(self.driver.current_url)
        self.check()


def is_local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in NOT_FETCHED_SCHEMES or parts.hostname in LOCAL_HOSTS
