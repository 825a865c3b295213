"""The dashboard in a real browser (Debian's chromium + chromedriver, headless)."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator

import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from controller.dashboard.i18n import TEXTS
from protocol import topics
from tests.controller.helpers import marked_ballot

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    profile = tempfile.mkdtemp(prefix="shailoo-chromium-")
    options = Options()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _text(driver: webdriver.Chrome, element_id: str, expected: str, timeout: float = 15) -> None:
    WebDriverWait(driver, timeout).until(
        ec.text_to_be_present_in_element((By.ID, element_id), expected)
    )


def test_dashboard_updates_live(make_station, browser: webdriver.Chrome) -> None:
    ctx = make_station()
    browser.get(ctx.station.url + "/?lang=en")
    en = TEXTS["en"]
    assert en["test_banner"] in browser.find_element(By.ID, "mode-banner").text
    assert browser.find_element(By.ID, "count-checked_in").text == "0"
    assert browser.find_element(By.ID, "polls").get_attribute("data-state") == "open"
    # A marker that a reload would wipe: the counts must change without one.
    browser.execute_script("window.shailooMarker = 42;")
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "live").text == en["live"])

    term, scan = ctx.device("term-1"), ctx.device("scan-1")
    reply = term.request("checkin.request", {"txn": "a", "mrz": ctx.voters[0].mrz()})
    assert reply.body["status"] == "issued"
    _text(browser, "count-checked_in", "1")

    scan.publish(
        json.dumps({"state": "online", "fw": "0.1.0", "role": "scanner"}).encode(),
        topics.status(ctx.station.station, "scan-1"),
        retain=True,
    )
    WebDriverWait(browser, 15).until(
        lambda d: d.find_element(By.CSS_SELECTOR, 'tr[data-device="scan-1"] td.online')
    )
    vote = {"mayor": ["m-bakyt"], "council": ["c-2", "c-3"]}
    scan.reply_to(scan.upload("scan-1-1-1", marked_ballot(ctx.station.election, "s1", vote)))
    _text(browser, "count-pending", "1")
    scan.request("ballot.dropped", {"sheet": "scan-1-1-1", "counter": 1})
    _text(browser, "count-cast", "1")
    _text(browser, "count-pending", "0")
    assert browser.execute_script("return window.shailooMarker;") == 42
    scan.publish(b"", topics.status(ctx.station.station, "scan-1"), retain=True)

    # The chair closes the polls from the page; the results appear.
    browser.find_element(By.ID, "close-polls").click()
    WebDriverWait(browser, 10).until(ec.alert_is_present()).accept()
    # The page reloads itself to show the server-rendered results: a lookup that meets
    # the reload half-way is asked again.
    WebDriverWait(browser, 15, ignored_exceptions=(WebDriverException,)).until(
        ec.presence_of_element_located((By.ID, "results"))
    )
    assert browser.find_element(By.ID, "polls").get_attribute("data-state") == "closed"
    cell = browser.find_element(
        By.CSS_SELECTOR, 'table[data-contest="mayor"] td[data-option="m-bakyt"]'
    )
    assert cell.text == "1"
    assert ctx.station.results()["contests"]["mayor"]["options"]["m-bakyt"] == 1


def test_language_switch(make_station, browser: webdriver.Chrome) -> None:
    ctx = make_station()
    browser.get(ctx.station.url + "/?lang=ky")
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "ky"
    assert TEXTS["ky"]["checked_in"] in browser.page_source
    browser.find_element(By.ID, "lang-ru").click()
    WebDriverWait(browser, 10).until(
        lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "ru"
    )
    assert TEXTS["ru"]["test_banner"] in browser.find_element(By.ID, "mode-banner").text
    browser.get(ctx.station.url + "/")  # remembered
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "ru"
