"""The lab page in a real Chromium: start a run and watch both traces grow."""

import pytest

pytestmark = pytest.mark.browser


def trace_lengths(page, chart_id: str) -> list[int]:
    return page.evaluate(f"document.getElementById('{chart_id}').data.map(t => t.x.length)")


def test_digits_run_grows_both_loss_traces(live_server, browser_page, artifacts):
    page = browser_page
    page.goto(f"{live_server}/")

    page.get_by_label("Dataset").select_option("digits")
    page.get_by_label("Depth").fill("6")
    page.get_by_label("Steps").fill("120")
    page.get_by_role("button", name="Start").click()

    page.wait_for_function(
        "() => document.getElementById('loss-chart').data.every(t => t.x.length >= 5)",
        timeout=60_000,
    )
    first = trace_lengths(page, "loss-chart")
    page.wait_for_function(
        "() => document.getElementById('status').textContent.startsWith('Done')", timeout=90_000
    )
    last = trace_lengths(page, "loss-chart")
    page.screenshot(path=artifacts / "lab-digits.png", full_page=True)

    names = page.evaluate("document.getElementById('loss-chart').data.map(t => t.name)")
    assert names == ["plain", "residual"]
    assert all(n > f for n, f in zip(last, first, strict=True)), (first, last)
    losses = page.evaluate("document.getElementById('loss-chart').data.map(t => t.y.at(-1))")
    assert all(0 < loss < 10 for loss in losses)
    assert "digits" in page.url and "depth=6" in page.url  # settings round-trip
    assert not page.locator("#surfaces").is_visible()  # no input plane for images


def test_spiral_run_draws_both_decision_surfaces(live_server, browser_page, artifacts):
    page = browser_page
    page.goto(f"{live_server}/?depth=8&steps=200")

    page.get_by_role("button", name="Start").click()
    page.wait_for_function(
        "() => document.getElementById('status').textContent.startsWith('Done')", timeout=60_000
    )
    page.screenshot(path=artifacts / "lab-spiral.png", full_page=True)

    for kind in ("plain", "residual"):
        z = page.evaluate(f"document.getElementById('surface-{kind}').data[0].z")
        assert len(z) == 50 and len(z[0]) == 50
        assert all(0 <= p <= 1 for row in z for p in row)
    assert page.get_by_role("link", name="Look inside these networks").is_visible()
