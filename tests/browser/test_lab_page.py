"""The lab page in a real Chromium: start a run and watch both traces grow."""

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser


def trace_lengths(page, chart_id: str) -> list[int]:
    return page.evaluate(f"document.getElementById('{chart_id}').data.map(t => t.x.length)")


def test_digits_run_grows_both_loss_traces(live_server, browser_page, artifacts):
    page = browser_page
    page.goto(f"{live_server}/")

    page.get_by_label("Dataset").select_option("digits")
    assert "convolutional units" in page.locator("#dataset-hint").text_content()
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

    with page.expect_download() as download:
        page.get_by_role("button", name="Data (JSON)").click()
    report = json.loads(Path(download.value.path()).read_text())
    assert report["config"]["dataset"] == "digits"
    assert set(report["final"]["train"]) == {"plain", "residual"}
    assert [r["kind"] for r in report["runs"]] == ["plain", "residual"]
    assert all(r["history"]["step"][-1] == 120 for r in report["runs"])
    with page.expect_download() as download:
        page.get_by_role("button", name="Data (CSV)").click()
    lines = Path(download.value.path()).read_text().splitlines()
    assert lines[0] == "network,step,train_loss,train_accuracy,test_accuracy"
    assert {line.split(",")[0] for line in lines[1:]} == {"plain", "residual"}


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
    # The finished run can be followed unit by unit on the block page.
    page.get_by_role("link", name="Look inside these networks").click()
    page.wait_for_function(
        "() => { const c = document.getElementById('run-ratios');"
        " return c && c.data && c.data.length >= 2 && c.data[0].y.length === 8; }",
        timeout=30_000,
    )
    ratios = page.evaluate("document.getElementById('run-ratios').data.map(t => t.y)")
    assert "/block?run=" in page.url
    assert all(len(r) == 8 and all(v >= 0 for v in r) for r in ratios)

    title = page.locator("#t-run-residual")
    page.wait_for_function(
        "() => document.getElementById('t-run-residual').textContent.includes('stem output')"
    )
    slider = page.get_by_label("Unit index")
    slider.fill("8")
    slider.dispatch_event("input")
    page.wait_for_function(
        "() => document.getElementById('t-run-residual').textContent.includes('unit 8 of 8')"
    )
    assert "PCA of width 16" in title.text_content()
    page.screenshot(path=artifacts / "block-trained.png", full_page=True)


def test_invalid_link_settings_are_ignored_and_named(live_server, browser_page):
    page = browser_page
    page.goto(f"{live_server}/?depth=abc&dataset=evil&width=8&steps=1e9")

    assert page.get_by_label("Depth").input_value() == "20"
    assert page.get_by_label("Dataset").input_value() == "spiral"
    assert page.get_by_label("Width").input_value() == "8"
    status = page.locator("#status").text_content()
    assert status == "Ignored invalid settings in the link: dataset, depth, steps."
