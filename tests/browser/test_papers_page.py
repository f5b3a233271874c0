"""The paper lab in a real Chromium: run a preset from its card to the end."""

import pytest

pytestmark = pytest.mark.browser

CARD = "#preset-identity"
CHART = "chart-identity-error_vs_depth"


def chart_traces(page, chart_id: str) -> list[dict]:
    script = (
        f"document.getElementById('{chart_id}').data.map(t => ({{name: t.name, x: t.x, y: t.y}}))"
    )
    return page.evaluate(script)


def test_identity_card_runs_to_the_end_and_draws_its_claim(live_server, browser_page, artifacts):
    page = browser_page
    page.goto(f"{live_server}/papers")
    page.wait_for_selector("body[data-ready=true]")
    card = page.locator(CARD)

    card.locator("summary").click()  # the settings, generated from the schema
    card.get_by_label("Depths").fill("2,10,20")
    card.get_by_label("Steps").fill("300")
    card.get_by_role("button", name="Run").click()
    page.wait_for_selector(f"{CARD}[data-state=done]", timeout=90_000)

    traces = chart_traces(page, CHART)
    assert [t["name"] for t in traces] == ["plain", "residual"]
    plain, residual = (t["y"] for t in traces)
    assert traces[0]["x"] == [2, 10, 20]
    assert all(p > 100 * r for p, r in zip(plain[1:], residual[1:], strict=True))
    assert card.locator("progress").evaluate("p => p.value") == 1
    assert card.get_by_role("button", name="Data (CSV)").is_visible()

    with page.expect_download() as download:
        card.get_by_role("button", name="Data (CSV)").click()
    header = download.value.path().read_text().splitlines()[0]
    assert header == "figure,trace,x,y,z"

    card.scroll_into_view_if_needed()
    page.evaluate("document.querySelector('#preset-identity').scrollIntoView()")
    page.screenshot(path=artifacts / "papers.png")


def test_out_of_range_setting_is_refused_naming_the_field(live_server, browser_page):
    page = browser_page
    page.goto(f"{live_server}/papers")
    page.wait_for_selector("body[data-ready=true]")
    card = page.locator("#preset-degradation")

    card.locator("summary").click()
    card.get_by_label("Width").fill("500")
    card.get_by_role("button", name="Run").click()

    status = card.get_by_role("status")
    assert "Width" in status.text_content() and "64" in status.text_content()
