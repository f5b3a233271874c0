"""Security headers, bounded bodies, and errors that reveal nothing."""

import pytest
from fastapi.testclient import TestClient

from app.web.main import create_app


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app()) as c:
        yield c


@pytest.mark.parametrize("path", ["/", "/healthz", "/static/css/lab.css", "/nope"])
def test_every_response_allows_only_the_apps_own_origin(client, path):
    headers = client.get(path).headers

    policy = headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-eval" not in policy
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"


def test_oversized_bodies_are_refused_before_parsing(client):
    response = client.post(
        "/api/status",
        content=b"{" + b" " * 100_000 + b"}",
        headers={"content-type": "application/json"},
    )

    assert response.status_code == 413
    assert "too large" in response.json()["detail"]


def test_unknown_paths_and_methods_answer_briefly(client):
    missing = client.get("/no/such/page")
    wrong = client.delete("/healthz")

    assert missing.status_code == 404 and wrong.status_code == 405
    for response in (missing, wrong):
        assert "Traceback" not in response.text and "uvicorn" not in response.text.lower()


def test_interactive_docs_that_need_a_cdn_are_off(client):
    assert client.get("/docs").status_code == 404
    assert client.get("/openapi.json").status_code == 200


def test_a_chunked_body_that_grows_too_large_gets_413(client):
    def chunks():
        for _ in range(20):
            yield b" " * 8192

    response = client.post(
        "/api/anatomy/unit", content=chunks(), headers={"content-type": "application/json"}
    )

    assert response.status_code == 413
