"""The paired-run socket, health, the page and the bundled Plotly asset."""

import gzip
import json
import math

import pytest
from fastapi.testclient import TestClient

from app.web.main import create_app
from app.web.settings import Settings
from tests.servers import strict_json as strict


@pytest.fixture
def client():
    with TestClient(create_app(Settings(max_running=2))) as c:
        yield c


def run_to_end(ws, config: dict) -> list[dict]:
    ws.send_text(json.dumps({"type": "start", "config": config}))
    messages = []
    while True:
        messages.append(strict(ws.receive_text()))
        if messages[-1]["type"] in ("done", "error"):
            return messages


def test_health_says_ok(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_page_has_every_control_and_no_external_asset(client):
    html = client.get("/").text

    for field, label in [
        ("dataset", "Dataset"),
        ("depth", "Depth"),
        ("width", "Width"),
        ("learning_rate", "Learning rate"),
        ("steps", "Steps"),
        ("seed", "Seed"),
    ]:
        assert f'<label for="{field}">{label}</label>' in html
    assert 'type="range" id="depth" name="depth" min="1"\n           max="128"' in html
    for button in ("Start", "Pause", "Stop"):
        assert f">{button}</button>" in html
    assert "https://" not in html and "http://" not in html


def test_plotly_is_served_gzipped_from_the_installed_package(client):
    response = client.get(
        "/vendor/plotly.min.js", headers={"accept-encoding": "gzip"}, follow_redirects=False
    )
    raw = client.get("/vendor/plotly.min.js", headers={"accept-encoding": "identity"})

    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert raw.content.startswith(b"/**") and b"plotly.js" in raw.content[:200]
    assert len(gzip.compress(raw.content)) < len(raw.content) / 3
    again = client.get("/vendor/plotly.min.js", headers={"if-none-match": response.headers["etag"]})
    assert again.status_code == 304


def test_run_streams_finite_values_for_both_networks_and_ends_cleanly(client):
    with client.websocket_connect("/ws/train?session=test-session-1") as ws:
        messages = run_to_end(ws, {"depth": 3, "steps": 60, "seed": 1})

    kinds = [m["type"] for m in messages]
    assert kinds[0] == "started" and kinds[-1] == "done"
    assert "surface" in kinds
    rows = {"plain": [], "residual": []}
    for m in messages:
        if m["type"] == "metrics":
            for kind, r in m["rows"].items():
                rows[kind].extend(r)
    for history in rows.values():
        assert [r["step"] for r in history] == sorted({r["step"] for r in history})
        assert history[-1]["step"] == 60
        for row in history:
            assert math.isfinite(row["train_loss"]) and 0 <= row["train_accuracy"] <= 1
            assert len(row["grad_norms"]) == 3 + 2
            assert all(math.isfinite(g) and g >= 0 for g in row["grad_norms"])
    done = messages[-1]
    assert done["reason"] == "completed" and done["steps"] == 60
    assert set(done["final"]["train"]) == {"plain", "residual"}


def test_started_message_describes_the_run(client):
    with client.websocket_connect("/ws/train") as ws:
        messages = run_to_end(ws, {"depth": 2, "steps": 5})

    started = messages[0]
    assert started["layers"] == ["stem", "unit 1", "unit 2", "head"]
    assert started["config"]["depth"] == 2 and started["dataset"]["is_2d"]
    assert len(started["points"]["x"]) == len(started["points"]["label"]) == 750


@pytest.mark.parametrize(
    "config, field",
    [
        ({"depth": 0}, "config.depth"),
        ({"depth": 1000}, "config.depth"),
        ({"width": "wide"}, "config.width"),
        ({"learning_rate": -1}, "config.learning_rate"),
        ({"dataset": "imagenet"}, "config.dataset"),
        ({"steps": 10**9}, "config.steps"),
        ({"colour": "red"}, "config.colour"),
        ({"dataset": "spiral", "layer": "conv"}, "config"),
    ],
)
def test_out_of_range_start_gets_an_error_naming_the_field(client, config, field):
    with client.websocket_connect("/ws/train") as ws:
        ws.send_text(json.dumps({"type": "start", "config": config}))
        error = strict(ws.receive_text())

    assert error["type"] == "error"
    assert error["field"] == field
    assert error["message"].startswith(field)


@pytest.mark.parametrize(
    "text, field",
    [
        ("not json", "message"),
        ("[1, 2]", "type"),
        ('{"type": "pause"}', "type"),
        ('{"type": "start", "config": ' + '{"a": 1, ' * 3000 + "}", "message"),
        ('{"type": "start", "config": ' + "[" * 5000 + "]" * 5000 + "}", "message"),
    ],
)
def test_malformed_start_gets_a_clear_error_and_a_close(client, text, field):
    with client.websocket_connect("/ws/train") as ws:
        ws.send_text(text)
        error = strict(ws.receive_text())
        closed = ws.receive()

    assert error["type"] == "error" and error["field"] == field
    assert closed["type"] == "websocket.close" and closed["code"] == 1008


def test_stop_ends_the_run_early(client):
    with client.websocket_connect("/ws/train") as ws:
        ws.send_text(json.dumps({"type": "start", "config": {"depth": 4, "steps": 100000}}))
        assert strict(ws.receive_text())["type"] == "started"
        ws.send_text(json.dumps({"type": "stop"}))
        messages = []
        while not messages or messages[-1]["type"] != "done":
            messages.append(strict(ws.receive_text()))

    assert messages[-1]["reason"] == "stopped"
    assert messages[-1]["steps"] < 100000


def test_pause_holds_the_run_until_resume(client):
    with client.websocket_connect("/ws/train") as ws:
        ws.send_text(json.dumps({"type": "start", "config": {"depth": 2, "steps": 100000}}))
        ws.send_text(json.dumps({"type": "pause"}))
        seen = []
        while "paused" not in seen:
            seen.append(strict(ws.receive_text())["type"])
        ws.send_text(json.dumps({"type": "resume"}))
        while "resumed" not in seen:
            seen.append(strict(ws.receive_text())["type"])
        ws.send_text(json.dumps({"type": "stop"}))
        while seen[-1] != "done":
            seen.append(strict(ws.receive_text())["type"])

    assert seen.index("paused") < seen.index("resumed") < seen.index("done")


def test_a_diverging_run_says_so_in_strict_json(client):
    config = {"depth": 50, "steps": 300, "learning_rate": 10, "optimizer": "sgd"}
    with client.websocket_connect("/ws/train") as ws:
        messages = run_to_end(ws, config)

    done = messages[-1]
    assert done["reason"] == "diverged"
    assert done["diverged"]["network"] in ("plain", "residual")
    assert done["diverged"]["step"] >= 1


def test_binary_frames_get_an_error_not_a_crash(client):
    with client.websocket_connect("/ws/train") as ws:
        ws.send_bytes(b"\x00\x01")
        error = strict(ws.receive_text())
        closed = ws.receive()

    assert error == {
        "type": "error",
        "field": "message",
        "message": "binary frames are not accepted: send JSON text",
    }
    assert closed["code"] == 1008


def test_bad_messages_mid_run_get_errors_and_the_run_goes_on(client):
    with client.websocket_connect("/ws/train") as ws:
        ws.send_text(json.dumps({"type": "start", "config": {"depth": 2, "steps": 100000}}))
        assert strict(ws.receive_text())["type"] == "started"
        ws.send_bytes(b"\xff")
        ws.send_text("[" * 5000)
        ws.send_text(json.dumps({"type": "dance"}))
        errors = []
        while len(errors) < 3:
            message = strict(ws.receive_text())
            if message["type"] == "error":
                errors.append(message["message"])
        ws.send_text(json.dumps({"type": "stop"}))
        while (message := strict(ws.receive_text()))["type"] != "done":
            pass

    assert errors == [
        "binary frames are not accepted: send JSON text",
        "message is nested too deeply",
        "unknown type 'dance'",
    ]
    assert message["reason"] == "stopped"


def test_finished_runs_get_distinct_unguessable_ids_and_can_be_inspected(client):
    ids = []
    for _ in range(3):
        with client.websocket_connect("/ws/train") as ws:
            ids.append(run_to_end(ws, {"depth": 2, "steps": 5})[-1]["run_id"])

    assert len(set(ids)) == 3
    assert all(len(run_id) >= 16 for run_id in ids)
    ratios = client.get(f"/api/anatomy/runs/{ids[0]}/ratios")
    assert ratios.status_code == 200
    gone = client.get("/api/anatomy/runs/run-unknown/ratios")
    assert gone.status_code == 404 and "train it again" in gone.json()["detail"]
