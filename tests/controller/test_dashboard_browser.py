"""The dashboard in a real browser (Debian's chromium + chromedriver, headless)."""

from __future__ import annotations

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
from tests.controller.helpers import WORKERS, code_for, marked_ballot

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


def log_in(driver: webdriver.Chrome, url: str, role: str = "chair", lang: str = "en") -> None:
    """Log in on the login page as the test worker of ``role``; land on the dashboard."""
    driver.get(f"{url}/login?lang={lang}")
    worker = WORKERS[role]
    driver.find_element(By.ID, "worker").send_keys(worker.id)
    driver.find_element(By.ID, "pin").send_keys(worker.pin)
    driver.find_element(By.ID, "code").send_keys(code_for(url, role))
    driver.find_element(By.ID, "login-button").click()
    WebDriverWait(driver, 15, ignored_exceptions=(WebDriverException,)).until(
        ec.presence_of_element_located((By.ID, "count-checked_in"))
    )


def test_dashboard_updates_live(make_station, browser: webdriver.Chrome) -> None:
    ctx = make_station()
    # Without a session the dashboard is the login page.
    browser.get(ctx.station.url + "/?lang=en")
    assert browser.current_url.endswith("/login?lang=en")
    assert browser.find_elements(By.ID, "login") and not browser.find_elements(By.ID, "polls")
    log_in(browser, ctx.station.url)
    browser.get(ctx.station.url + "/?lang=en")
    assert TEXTS["en"]["worker_role_chair"] in browser.find_element(By.ID, "worker").text
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

    scan.status("online", fw="0.1.0", role="scanner")
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
    log_in(browser, ctx.station.url, "member", "ky")
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


def test_the_commission_decides_an_unclear_mark_on_the_page(
    make_station, browser: webdriver.Chrome
) -> None:
    from tests.controller.test_adjudication import UNCLEAR, VOTES, _cast_flagged, _station

    ctx = _station(make_station)
    _cast_flagged(ctx)
    ru = TEXTS["ru"]
    log_in(browser, ctx.station.url, "chair", "ru")
    browser.get(ctx.station.url + "/?lang=ru")
    # While polls are open the page says nothing of flagged ballots.
    assert not browser.find_elements(By.ID, "adjudication")
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "live").text == ru["live"])
    browser.find_element(By.ID, "close-polls").click()
    WebDriverWait(browser, 10).until(ec.alert_is_present()).accept()
    # Closed, but no results: the flagged ballot is listed, with its scan, for a decision.
    form = WebDriverWait(browser, 15, ignored_exceptions=(WebDriverException,)).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, "form.flagged.undecided"))
    )
    assert not browser.find_elements(By.ID, "results")
    notice = browser.find_element(By.ID, "adjudication-notice").text
    assert notice == ru["adj_waiting"].replace("{n}", "1")
    WebDriverWait(browser, 10).until(
        lambda d: d.execute_script(
            "var i = document.querySelector('form.flagged img');"
            "return i.complete && i.naturalWidth > 0;"
        )
    )
    contest, option = UNCLEAR[0]
    row = form.find_element(
        By.CSS_SELECTOR, f'tr[data-contest="{contest}"][data-option="{option}"]'
    )
    assert ru["mark_marginal"] in row.text and "Совет" in row.text
    assert not browser.find_element(By.ID, "close-polls").is_displayed()
    assert not browser.find_element(By.ID, "produce-results").is_enabled()  # marks undecided
    # A decision without a reason is not sent (the form requires one); then it is.
    row.find_element(By.CSS_SELECTOR, 'input[value="vote"]').click()
    form.find_element(By.NAME, "by").send_keys("Председатель")
    assert browser.execute_script("return arguments[0].checkValidity();", form) is False
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    form.find_element(By.NAME, "reason").send_keys("галочка внутри овала")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, 15, ignored_exceptions=(WebDriverException,)).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, "form.flagged.decided"))
    )
    assert browser.find_element(By.ID, "adjudication-notice").text == ru["adj_all_decided"]
    assert "Председатель: галочка внутри овала" in browser.find_element(
        By.CSS_SELECTOR, "form.flagged .decided-by").text
    # The chair produces the results: the mark the commission counted is a vote.
    browser.find_element(By.ID, "produce-results").click()
    WebDriverWait(browser, 10).until(ec.alert_is_present()).accept()
    WebDriverWait(browser, 15, ignored_exceptions=(WebDriverException,)).until(
        ec.presence_of_element_located((By.ID, "results"))
    )
    cell = browser.find_element(
        By.CSS_SELECTOR, f'table[data-contest="{contest}"] td[data-option="{option}"]'
    )
    assert cell.text == "1"
    line = browser.find_element(By.ID, "adjudication-line")
    assert line.find_element(By.CSS_SELECTOR, 'td[data-count="flagged"]').text == "1"
    assert line.find_element(By.CSS_SELECTOR, 'td[data-count="marks_counted"]').text == "1 / 1"
    results = ctx.station.results()
    assert results["contests"][contest]["options"][option] == 1
    assert results["contests"]["mayor"]["options"][VOTES["mayor"][0]] == 1
    # Final: the decision is shown, no longer a form to change it.
    assert not browser.find_elements(By.CSS_SELECTOR, "form.flagged input[type=radio]")


def test_login_refusal_roles_and_logout(make_station, browser: webdriver.Chrome) -> None:
    ctx = make_station(voters=2)
    url = ctx.station.url
    en = TEXTS["en"]
    browser.get(url + "/login?lang=en")
    member = WORKERS["member"]
    browser.find_element(By.ID, "worker").send_keys(member.id)
    browser.find_element(By.ID, "pin").send_keys("00000000")
    browser.find_element(By.ID, "code").send_keys("123456")
    browser.find_element(By.ID, "login-button").click()
    _text(browser, "login-error", en["login_refused"])
    assert "login refused" in browser.find_element(By.ID, "login-error").text
    assert browser.find_element(By.ID, "pin").get_attribute("value") == ""  # not kept
    # A member sees the station but no button that changes it.
    log_in(browser, url, "member")
    assert TEXTS["en"]["worker_role_member"] in browser.find_element(By.ID, "worker").text
    assert not browser.find_element(By.ID, "close-polls").is_displayed()
    # The page's script itself cannot close the polls for a member: the station says no.
    answer = browser.execute_async_script(
        "var done = arguments[arguments.length - 1];"
        "var t = document.querySelector('meta[name=csrf-token]').content;"
        "fetch('/api/polls/close', {method: 'POST', headers: {'X-CSRF-Token': t}})"
        ".then(function (r) { done(r.status); });"
    )
    assert answer == 403
    # The session cookie is out of the page script's reach.
    assert "shailoo_session" not in browser.execute_script("return document.cookie;")
    browser.find_element(By.ID, "logout").click()
    WebDriverWait(browser, 10).until(lambda d: d.current_url.endswith("/login"))
    browser.get(url + "/")
    assert browser.current_url.endswith("/login")
    assert ctx.http("member").get("/api/status").json()["polls"] == "open"
