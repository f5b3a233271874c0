"""The block-anatomy page in a real Chromium: sliders move the panels."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def panel_points(page, name: str) -> list[list[float | None]]:
    """Every trace's x and y of a panel, read back from Plotly's graph div."""
    return page.evaluate(
        f"""() => document.getElementById('p-{name}').data
            .flatMap((t) => [Array.from(t.x), Array.from(t.y)])"""
    )


def renders(page) -> int:
    return page.evaluate("() => window.blockAnatomy.renders")


def wait_for_render_after(page, count: int) -> None:
    """Until a newer render is drawn and no request of the hand view is in flight."""
    page.wait_for_function(
        f"() => window.blockAnatomy.renders > {count} && !window.blockAnatomy.busy.hand",
        timeout=15_000,
    )


def move_slider(page, label: str, value: str) -> None:
    slider = page.get_by_label(label, exact=True)
    slider.fill(value)  # sets the value and fires `input`, as a drag does
    slider.dispatch_event("input")


def test_weight_slider_moves_f_and_h_then_zero_preact_is_identity(
    live_server, browser_page, artifacts
):
    page = browser_page
    page.goto(f"{live_server}/block")
    page.wait_for_function("() => window.blockAnatomy && window.blockAnatomy.renders > 0")
    f_before, h_before = panel_points(page, "f"), panel_points(page, "out")
    # The 50 x 50 grid is drawn as a mesh of its rows and columns.
    assert sum(v is not None for v in f_before[0]) >= 25 * 50

    count = renders(page)
    move_slider(page, "W2[1,1]", "1.5")
    page.wait_for_function(
        "() => document.getElementById('o-w2_00').textContent === '1.50'", timeout=5_000
    )
    wait_for_render_after(page, count)
    assert panel_points(page, "f") != f_before
    assert panel_points(page, "out") != h_before

    count = renders(page)
    page.get_by_label("Unit", exact=True).select_option(label="pre-activation")
    page.get_by_role("button", name="Zero weights").click()
    wait_for_render_after(page, count)
    x, out = panel_points(page, "x"), panel_points(page, "out")
    assert out == x
    assert page.get_by_label("W1[2,1]", exact=True).input_value() == "0"

    page.screenshot(path=artifacts / "block.png", full_page=True)


def test_every_slider_has_a_visible_label_and_value(live_server, browser_page):
    page = browser_page
    page.goto(f"{live_server}/block")
    sliders = page.locator("#hand input[type=range]")

    assert sliders.count() == 14  # 8 weights, 4 biases, alpha and the repeat count
    for i in range(sliders.count()):
        slider = sliders.nth(i)
        label = page.locator(f"label[for='{slider.get_attribute('id')}']")
        assert label.is_visible() and label.inner_text().strip()
        assert page.locator(f"output[for='{slider.get_attribute('id')}']").is_visible()
