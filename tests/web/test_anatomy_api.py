"""Block-anatomy endpoints: panels, bounds and runs, through the real app."""

from __future__ import annotations

import base64
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.core import anatomy
from app.core.config import RunConfig
from app.core.training import PairedTrainer
from app.web.main import create_app
from app.web.settings import Settings

ZERO = {"w1": [[0, 0], [0, 0]], "b1": [0, 0], "w2": [[0, 0], [0, 0]], "b2": [0, 0]}
PANELS = ["x", "weight1", "relu", "f", "sum", "out"]


@pytest.fixture(scope="module")
def client():
    app = create_app()
    spiral = RunConfig(dataset="spiral", depth=3, width=4, steps=5, points=200)
    digits = RunConfig(dataset="digits", depth=2, width=4, steps=5)
    app.state.runs.put("run-spiral", PairedTrainer(spiral))
    app.state.runs.put("run-digits", PairedTrainer(digits))
    with TestClient(app) as c:
        yield c


def unpack(b64: str, n: int) -> np.ndarray:
    """base64 float32, x coordinates then y -> (n, 2)."""
    return np.frombuffer(base64.b64decode(b64), dtype=np.float32).reshape(2, n).T


def post_unit(client, **changes):
    return client.post("/api/anatomy/unit", json={**ZERO, **changes})


def test_unit_returns_every_panel_for_the_grid(client):
    body = post_unit(client).json()

    assert list(body["panels"]) == PANELS
    assert body["n"] == 2500 and body["labels"] is None
    assert unpack(body["panels"]["x"], 2500).min() == pytest.approx(-1.5)


def test_unit_zero_preact_output_equals_x(client):
    body = post_unit(client, unit="preact").json()

    panels = {k: unpack(v, body["n"]) for k, v in body["panels"].items()}
    assert np.array_equal(panels["out"], panels["x"])


def test_unit_repeated_adds_the_stack_panel(client):
    body = post_unit(client, depth=50, unit="preact", side=10).json()

    assert list(body["panels"]) == [*PANELS, "stack"]
    assert body["n"] == 100


def test_unit_on_a_data_set_returns_labels(client):
    body = post_unit(client, source="moons", points=300).json()

    assert body["n"] == 300 and len(body["labels"]) == 300
    assert set(body["labels"]) == {0, 1}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"w1": [[11, 0], [0, 0]]}, "w1[0][0]"),
        ({"w2": [[0, 0], [0, -10.5]]}, "w2[1][1]"),
        ({"w1": [[0, 0]]}, "w1"),
        ({"b1": [0, 0, 0]}, "b1"),
        ({"b2": ["a", 0]}, "b2[0]"),
        ({"alpha": 2.5}, "alpha"),
        ({"side": 101}, "side"),
        ({"points": 10_001}, "points"),
        ({"depth": 51}, "depth"),
        ({"unit": "bottleneck"}, "unit"),
        ({"source": "digits"}, "source"),
        ({"width": 3}, "width"),
    ],
)
def test_unit_bad_input_is_422_naming_the_field(client, changes, field):
    response = post_unit(client, **changes)

    assert response.status_code == 422
    assert response.json()["field"] == field
    assert response.json()["detail"].startswith(f"{field}: ")


def test_unit_bound_error_states_the_limit(client):
    detail = post_unit(client, w1=[[12, 0], [0, 0]]).json()["detail"]

    assert detail == "w1[0][0]: must be at most 10.0, got 12"


def test_unit_non_finite_weight_is_422(client):
    raw = b'{"w1": [[NaN, 0], [0, 0]], "b1": [0, 0], "w2": [[0, 0], [0, 0]], "b2": [0, 0]}'
    response = client.post(
        "/api/anatomy/unit", content=raw, headers={"content-type": "application/json"}
    )

    assert response.status_code == 422
    assert response.json()["field"] == "w1[0][0]"


def test_unit_malformed_json_is_422(client):
    response = client.post(
        "/api/anatomy/unit", content=b'{"w1": [[', headers={"content-type": "application/json"}
    )

    assert response.status_code == 422
    assert response.json()["field"] == "body"


def test_fit_returns_curves_and_snapshots(client):
    body = client.post("/api/anatomy/fit", json={"target": "abs", "steps": 20}).json()

    assert len(body["losses"]["plain"]) == 20 and len(body["losses"]["residual"]) == 20
    assert body["steps"][0] == 0 and body["steps"][-1] == 20
    assert len(body["snapshots"]["residual"][-1]["f"]) == len(body["x"])
    assert body["residual_target"][0] == pytest.approx(abs(body["x"][0]) - body["x"][0])


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"steps": 1001}, "steps"), ({"target": "sin"}, "target"), ({"hidden": 0}, "hidden")],
)
def test_fit_bad_input_is_422_naming_the_field(client, changes, field):
    response = client.post("/api/anatomy/fit", json=changes)

    assert response.status_code == 422
    assert response.json()["field"] == field


@pytest.mark.parametrize("path", ["ratios", "units/0"])
def test_unknown_run_is_404(client, path):
    response = client.get(f"/api/anatomy/runs/run-nope/{path}")

    assert response.status_code == 404
    assert "run-nope" in response.json()["detail"]


def test_run_unit_returns_both_networks(client):
    body = client.get("/api/anatomy/runs/run-spiral/units/2").json()

    assert set(body["nets"]) == {"plain", "residual"}
    n = body["n"]
    residual = body["nets"]["residual"]
    assert set(residual["points"]) == {"x", "sum", "out"}
    assert unpack(residual["points"]["out"], n).shape == (n, 2)
    assert len(residual["ratios"]) == 3 and len(body["labels"]) == n


def test_run_stem_view_has_only_the_output(client):
    body = client.get("/api/anatomy/runs/run-spiral/units/0").json()

    assert list(body["nets"]["plain"]["points"]) == ["out"]


def test_run_unit_past_the_depth_is_422(client):
    response = client.get("/api/anatomy/runs/run-spiral/units/4")

    assert response.status_code == 422
    assert response.json()["detail"].startswith("unit: must be in 0..3")


def test_run_unit_bad_point_count_is_422(client):
    response = client.get("/api/anatomy/runs/run-spiral/units/1?max_points=5")

    assert response.status_code == 422
    assert response.json()["field"] == "max_points"


def test_run_ratios_per_unit_for_both_networks(client):
    body = client.get("/api/anatomy/runs/run-spiral/ratios").json()

    assert body["depth"] == 3 and body["is_2d"]
    assert [len(r) for r in body["ratios"].values()] == [3, 3]


def test_digits_run_has_ratios_but_no_point_cloud(client):
    ratios = client.get("/api/anatomy/runs/run-digits/ratios")
    cloud = client.get("/api/anatomy/runs/run-digits/units/1")

    assert ratios.status_code == 200 and not ratios.json()["is_2d"]
    assert cloud.status_code == 422
    assert "2-D" in cloud.json()["detail"] and "digits" in cloud.json()["detail"]


def test_block_page_has_a_labelled_slider_for_every_weight(client):
    html = client.get("/block").text

    for name in ("w1_00", "w1_11", "b1_1", "w2_01", "b2_0", "alpha"):
        assert f'<label for="s-{name}">' in html
    assert 'aria-current="page">Block anatomy' in html


def test_fits_take_a_training_slot_each(monkeypatch):
    # A 1-D fit is a small run: no more of them train at once than run slots.
    active, peak = 0, 0
    lock = threading.Lock()
    real_fit = anatomy.fit_residual

    def counted_fit(*args):
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.2)
        try:
            return real_fit(*args)
        finally:
            with lock:
                active -= 1

    monkeypatch.setattr(anatomy, "fit_residual", counted_fit)
    with TestClient(create_app(Settings(max_running=1))) as c:
        body = {"target": "identity", "steps": 5}
        with ThreadPoolExecutor(3) as pool:
            codes = list(
                pool.map(lambda _: c.post("/api/anatomy/fit", json=body).status_code, range(3))
            )

    assert codes == [200, 200, 200]
    assert peak == 1
