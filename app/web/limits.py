"""A bound on request bodies, checked before anything reads them."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 64 * 1024


class BodyLimit:
    """Answers 413 to HTTP requests whose body exceeds `limit` bytes."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES):
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._reject(send)
            return

        seen, started, rejected = 0, False, False

        async def counted() -> Message:
            # A chunked body never declares its size: count it as it comes,
            # answer 413 once it is too large and tell the app the client left.
            nonlocal seen, rejected
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit and not rejected:
                rejected = True
                if not started:
                    await self._reject(send)
                return {"type": "http.disconnect"}
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            if rejected:
                return  # the 413 has been sent; the app's answer is dropped
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, counted, tracked)

    async def _reject(self, send: Send) -> None:
        body = json.dumps({"detail": f"request body too large (at most {self.limit} bytes)"})
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body.encode()})
