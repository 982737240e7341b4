"""The inspector in a real browser: Debian's headless Chromium driven by Selenium against `shortlist serve`.

Walks overview -> user -> trace -> item -> experiments on the trained small world, checks the
page shows what ``POST /recommend`` answers, that the console holds no error, and saves a
screenshot of every page under ``test-artifacts/ui/`` (git-ignored). Then opens the offline
report in the same browser and checks it fetched nothing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from tests.serving.helpers import ServerProcess

pytestmark = pytest.mark.slow

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ui"


@pytest.fixture(scope="module")
def browser():
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.skip("chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver")
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,1600"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    b = webdriver.Chrome(options=opts, service=webdriver.ChromeService(executable_path=driver))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield b
    b.quit()


def _visit(browser, url: str, shot: str) -> None:
    """Open ``url``, save a screenshot, and fail on any console error."""
    browser.get(url)
    browser.save_screenshot(str(ARTIFACTS / f"{shot}.png"))
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert not errors, f"console errors on {url}: {errors}"


def _cards(browser, element_id: str) -> list[str]:
    from selenium.webdriver.common.by import By

    box = browser.find_element(By.ID, element_id)
    return [c.get_attribute("data-item-id") for c in box.find_elements(By.CSS_SELECTOR, "article.card")]


def test_walk_the_inspector(browser, world_dir, tmp_path):
    from selenium.webdriver.common.by import By

    with ServerProcess(world_dir, tmp_path / "events.sqlite") as server:
        _visit(browser, server.url + "/ui", "1-overview")
        assert browser.find_element(By.ID, "n-users").text == "200"
        browser.find_element(By.ID, "first-user").click()
        browser.save_screenshot(str(ARTIFACTS / "2-user.png"))
        user = browser.find_element(By.ID, "user-id").text
        answer = httpx.post(server.url + "/recommend", json={"user_id": user, "explain": True}).json()
        shown = _cards(browser, "final-list")
        fixed = [(n, str(it["item_id"])) for n, it in enumerate(answer["items"]) if it.get("propensity", 1.0) == 1.0]
        assert [(n, shown[n]) for n, _ in fixed] == fixed  # the exploration slot draws anew per request
        funnel = browser.find_elements(By.CSS_SELECTOR, "#funnel tr[data-stage]")
        assert [r.get_attribute("data-stage") for r in funnel] == [s["stage"] for s in answer["trace"]]
        assert [int(r.find_elements(By.TAG_NAME, "td")[3].text) for r in funnel] == [s["out"] for s in answer["trace"]]

        top = shown[0]
        browser.find_element(By.CSS_SELECTOR, f'#final-list article[data-item-id="{top}"] a.item-link').click()
        assert browser.find_element(By.ID, "item-id").text == top
        box = browser.find_element(By.CSS_SELECTOR, "#why-form input[name=user]")
        box.send_keys(user)
        box.submit()
        assert "shown at position 1" in browser.find_element(By.ID, "why-verdict").text
        _visit(browser, browser.current_url, "3-item")
        similar = httpx.get(f"{server.url}/items/{top}/similar", params={"k": 10}).json()
        assert _cards(browser, "similar") == [str(i["item_id"]) for i in similar["items"]]

        _visit(browser, server.url + "/ui/experiments", "4-experiments")
        assert browser.find_element(By.ID, "arms").find_elements(By.TAG_NAME, "tr")  # the slot logged impressions
        _visit(browser, server.url + "/ui/search?q=u1", "5-search")
        assert browser.find_element(By.LINK_TEXT, "u1")


def test_the_report_opens_offline(browser, world_dir, tmp_path):
    from shortlist.data.splits import random_holdout
    from shortlist.models.registry import create_model
    from shortlist.pipeline import Pipeline
    from shortlist.report import collect_run, write_report

    p = Pipeline.load(world_dir)
    split = random_holdout(p.dataset_.interactions, 0.25, seed=1)
    pop = create_model("popularity").fit(split.train, progress=False)
    runs = [collect_run("pipeline", p, split, k=10, max_users=60), collect_run("popularity", pop, split, k=10)]
    path = tmp_path / "report.html"
    size = write_report(runs, path)
    assert size == path.stat().st_size
    _visit(browser, path.as_uri(), "6-report")
    from selenium.webdriver.common.by import By

    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.chart")) >= 10
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0
    rows = browser.find_elements(By.CSS_SELECTOR, "table.comparison tbody tr")
    assert [r.find_element(By.TAG_NAME, "td").text for r in rows] == ["pipeline", "popularity"]
