"""The web console in a real browser (Debian's Chromium, driven by Selenium through chromedriver),
against `cepflow serve`'s app on loopback, the test database and Kafka.

One operator's day: sign in with a token, write a rule with a mistake and fix it as the editor
reports it, test it against events, trigger it, find the execution and its chain in the log,
silence the group from the log row, and see the next execution skipped as `silenced`.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from cepflow.api import create_app
from cepflow.console import console_app
from cepflow.receiver import Receiver
from cepflow.resources import Resources
from storage.repositories.tokens import TokenRepository
from storage.uow import unit_of_work
from tests.integration.conftest import database, kafka, sessions, stack  # noqa: F401 - fixtures
from tests.integration.harness import StackEnv

pytestmark = pytest.mark.integration

SCREENSHOTS = os.environ.get("CEPFLOW_SCREENSHOTS")
"""A folder for the pages' screenshots (the README's come from `CEPFLOW_SCREENSHOTS=docs/console`)."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def server(stack: StackEnv) -> Iterator[tuple[str, str]]:  # noqa: F811 - the imported fixture
    """(console URL, an admin token): the app of `cepflow serve`, in a thread of this process."""
    resources = Resources(stack.settings())
    with unit_of_work(resources.sessions) as session:
        token = TokenRepository(session).create(f"ops-{stack.prefix[-8:]}", "admin", "pytest")[1]
    port = _free_port()
    app = create_app(resources.settings, resources=resources, console=console_app())
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the console's server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", token
    server.should_exit = True
    thread.join(10)
    resources.close()


@pytest.fixture()
def browser() -> Iterator[WebDriver]:
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        pytest.fail("Chromium is missing: `stack/browser.sh install` (make test runs it) installs it")
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(flag)
    options.binary_location = shutil.which("chromium") or ""
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(shutil.which("chromedriver")))
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(driver: WebDriver, check: Callable[[WebDriver], Any], timeout: float = 15) -> Any:
    # A page re-renders as its data arrives: an element found a moment ago may be replaced.
    return WebDriverWait(driver, timeout, poll_frequency=0.1,
                         ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)).until(check)


def css(driver: WebDriver, selector: str) -> Any:
    return wait_for(driver, lambda d: d.find_element(By.CSS_SELECTOR, selector))


def type_into(element: Any, text: str) -> None:
    element.clear()
    element.send_keys(text)


def shot(driver: WebDriver, name: str) -> None:
    """Keep a screenshot of the page as `NAME.png` when `CEPFLOW_SCREENSHOTS` names a folder."""
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(SCREENSHOTS) / f"{name}.png"))


def rule_json(name: str, url: str, op: str) -> str:
    return (f'{{"name": "{name}", "match": {{"type": "cpu"}}, "where": {{"field": "value", "op": "{op}", "value": 90}},'
            f' "group_by": ["host"], "action": {{"endpoint": "{url}", "body": {{"host": "{{{{ event.host }}}}"}}}}}}')


def test_an_operator_writes_tests_triggers_finds_and_silences_a_rule(
    server: tuple[str, str], browser: WebDriver, stack: StackEnv,  # noqa: F811
) -> None:
    base, token = server
    name = f"console-{stack.prefix[-8:]}"
    with Receiver() as receiver:
        hook = receiver.url("/hook")

        # Sign in with a token.
        browser.get(f"{base}/ui/")
        type_into(css(browser, "#token"), token)
        css(browser, "#login button").click()
        wait_for(browser, lambda d: "ops-" in d.find_element(By.ID, "who").text)

        # A new rule with a mistake (`op: greater`): the editor names the field; fixed, it is valid.
        browser.get(f"{base}/ui/#/rules/new")
        editor = css(browser, "#editor")
        type_into(editor, rule_json(name, hook, "greater"))
        wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, '#validity [data-valid="false"]'))
        fields = [li.get_attribute("data-field") for li in browser.find_elements(By.CSS_SELECTOR, "#validity li")]
        assert any(field.startswith("where") and "op" in field for field in fields), fields
        shot(browser, "rule-editor")
        type_into(editor, rule_json(name, hook, "gt"))
        wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, '#validity [data-valid="true"]'))

        # Test it against pasted events, with the explanation of every leaf.
        type_into(css(browser, "#events"), '{"type": "cpu", "host": "web-1", "value": 95, "ts": 1700000000000}\n'
                                           '{"type": "cpu", "host": "web-2", "value": 10, "ts": 1700000001000}')
        css(browser, "#run-test").click()
        rows = wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#test-executions tbody tr td.status-fired"))
        assert len(rows) == 1
        assert "value" in css(browser, "#test-executions").text  # the explanation names the leaf's field

        # Save, then trigger it: a webhook reaches the receiver.
        css(browser, "#save").click()
        wait_for(browser, lambda d: f"#/rules/{name}" in d.current_url and d.find_elements(By.ID, "trigger"))
        type_into(css(browser, "#payload"), '{"host": "web-1", "value": 97}')
        css(browser, "#trigger").click()
        assert wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, "[data-trigger-status]")).text == "success"
        assert [r.json for r in receiver.requests if r.path == "/hook"] == [{"host": "web-1"}]

        # Find the execution in the log, and its chain.
        browser.get(f"{base}/ui/#/executions?rule={name}")
        wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, '#executions tr[data-status="success"]'))
        shot(browser, "executions")
        css(browser, "#executions a.chain-link").click()
        assert name in css(browser, "#chain-tree").text
        shot(browser, "chain")

        # Silence its group from the log row; the next execution is skipped as `silenced`.
        browser.get(f"{base}/ui/#/executions?rule={name}")
        css(browser, "#executions button.silence").click()
        wait_for(browser, lambda d: "#/silences" in d.current_url)
        type_into(css(browser, '#silence input[name="comment"]'), f"maintenance of web-1 ({name})")
        css(browser, "#silence button").click()
        wait_for(browser, lambda d: f"maintenance of web-1 ({name})" in d.find_element(By.ID, "silences").text)
        shot(browser, "silences")
        browser.get(f"{base}/ui/#/rules/{name}")
        type_into(css(browser, "#payload"), '{"host": "web-1", "value": 99}')
        css(browser, "#trigger").click()
        assert wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, "[data-trigger-status]")).text == "skipped"
        browser.get(f"{base}/ui/#/executions?rule={name}")
        skipped = wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, '#executions tr[data-status="skipped"]'))
        assert skipped[0].get_attribute("data-reason") == "silenced"
        assert len([r for r in receiver.requests if r.path == "/hook"]) == 1  # the silenced one sent nothing

        browser.get(f"{base}/ui/#/rules")
        wait_for(browser, lambda d: name in d.find_element(By.ID, "rules").text)
        shot(browser, "rules")


def test_without_a_token_the_console_asks_for_one_and_refuses_a_wrong_one(
    server: tuple[str, str], browser: WebDriver,
) -> None:
    base, _ = server
    browser.get(f"{base}/ui/#/rules")
    type_into(css(browser, "#token"), "not-a-token")
    css(browser, "#login button").click()
    flash = wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, '#flash [data-flash="error"]'))
    assert "token" in flash.text.lower()
    assert browser.find_elements(By.ID, "token")  # still on the sign-in page
