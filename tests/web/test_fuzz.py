"""Fuzzing: random socket messages and schema-driven HTTP requests.

Nothing may produce a server error, a hang or a crash: every bad input gets
a clear error naming the field.
"""

from __future__ import annotations

import json

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core.config import RunConfig
from app.web.main import create_app
from app.web.settings import Settings

APP = create_app(Settings(max_running=2))
FIELDS = list(RunConfig.model_fields)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
configs = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=10), json_values, max_size=6)
messages = st.one_of(
    st.builds(lambda c: {"type": "start", "config": c}, configs),
    st.dictionaries(st.sampled_from(["type", "config"]), json_values, max_size=3),
    json_values,
)


def first_reply(client: TestClient, raw: str) -> dict:
    with client.websocket_connect("/ws/train?session=fuzz-session") as ws:
        ws.send_text(raw)
        reply = json.loads(ws.receive_text())
        if reply["type"] in ("started", "queued"):
            ws.send_text(json.dumps({"type": "stop"}))
            while reply["type"] not in ("done", "error"):
                reply = json.loads(ws.receive_text())
        return reply


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(message=messages)
def test_any_start_message_gets_a_run_or_an_error_naming_a_field(message):
    with TestClient(APP) as client:
        reply = first_reply(client, json.dumps(message))

    if reply["type"] == "error":
        assert reply["field"] and reply["message"]
    else:
        assert reply["type"] == "done" and reply["reason"] in ("completed", "stopped", "diverged")


@settings(max_examples=30, deadline=None)
@given(text=st.text(max_size=200) | st.binary(max_size=50).map(lambda b: b.decode("latin-1")))
def test_garbage_text_is_rejected_with_a_clear_error(text):
    with TestClient(APP) as client:
        reply = first_reply(client, text)

    assert reply["type"] in ("error", "done")


schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(max_examples=25, deadline=None)
def test_http_endpoints_never_fail_on_the_server(case):
    response = case.call()

    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert "Traceback" not in response.text
