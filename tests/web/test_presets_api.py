"""The paper lab's API: preset cards, the page and the preset socket."""

import json

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from app.core.presets import PRESETS
from app.web.main import create_app
from app.web.settings import Settings
from tests.servers import strict_json as strict

SMALL = {"depths": [1, 3], "steps": 40, "points": 64}  # identity, in well under a second


@pytest.fixture
def client():
    with TestClient(create_app(Settings(max_running=2))) as c:
        yield c


def receive_until_end(ws) -> list[dict]:
    messages = []
    while True:
        messages.append(strict(ws.receive_text()))
        if messages[-1]["type"] in ("done", "error"):
            return messages


def test_list_presets_gives_every_card_with_its_schema(client):
    cards = client.get("/api/presets").json()["presets"]

    assert [c["name"] for c in cards] == list(PRESETS)
    for card in cards:
        assert card["expected"] and card["explanation"]
        assert set(card["defaults"]) == set(card["options"]["properties"])


def test_read_preset_unknown_name_is_404_naming_known_ones(client):
    response = client.get("/api/presets/nope")

    assert response.status_code == 404
    assert "degradation" in response.json()["detail"]


def test_papers_page_has_a_card_per_preset_and_no_external_asset(client):
    html = client.get("/papers").text

    for name, preset in PRESETS.items():
        assert f'data-preset="{name}"' in html
        assert preset.title in html
    assert 'aria-current="page"' in html
    assert "https://" not in html and "http://" not in html


def test_preset_socket_streams_progress_and_ends_with_figures(client):
    with client.websocket_connect("/ws/preset/identity?session=test-session-1") as ws:
        ws.send_text(json.dumps({"type": "start", "config": SMALL}))
        messages = receive_until_end(ws)

    kinds = [m["type"] for m in messages]
    assert "started" in kinds and "progress" in kinds and kinds[-1] == "done"
    done = messages[-1]
    assert done["reason"] == "completed" and done["preset"] == "identity"
    assert done["options"]["depths"] == [1, 3]
    curve = done["figures"]["error_vs_depth"]["series"][0]
    assert curve["x"] == [1, 3] and len(curve["y"]) == 2
    assert done["measures"]["plain_mse"]


def test_preset_socket_out_of_range_option_names_the_field(client):
    with client.websocket_connect("/ws/preset/degradation") as ws:
        ws.send_text(json.dumps({"type": "start", "config": {"width": 10_000}}))
        error = strict(ws.receive_text())
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()

    assert error["type"] == "error" and error["field"] == "config.width"
    assert "64" in error["message"]
    assert closed.value.code == 1008


def test_preset_socket_unknown_preset_is_rejected(client):
    with client.websocket_connect("/ws/preset/nope") as ws:
        error = strict(ws.receive_text())

    assert error["field"] == "name" and "identity" in error["message"]


def test_preset_socket_stop_ends_the_run_early(client):
    config = {"depths": [30, 60], "steps": 5000}
    with client.websocket_connect("/ws/preset/identity?session=test-session-2") as ws:
        ws.send_text(json.dumps({"type": "start", "config": config}))
        assert strict(ws.receive_text())["type"] in ("queued", "started", "progress")
        ws.send_text(json.dumps({"type": "stop"}))
        messages = receive_until_end(ws)

    assert messages[-1] == {"type": "done", "reason": "stopped", "detail": "stopped"}


def test_repeated_list_options_are_refused_naming_the_field(client):
    with client.websocket_connect("/ws/preset/shortcuts") as ws:
        ws.send_text(json.dumps({"type": "start", "config": {"variants": ["plain", "plain"]}}))
        error = strict(ws.receive_text())

    assert error["field"] == "config.variants"
    assert error["message"] == "config.variants: lists plain more than once"
