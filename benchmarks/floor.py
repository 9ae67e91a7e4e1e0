"""The floor of our stack: bare Starlette routes on uvicorn that return the mock's JSON and check nothing.

Served by ``python -m benchmarks.floor <port>`` with the uvicorn options `spark-mock` uses
(:data:`mockserver.http_protocol.SERVER_OPTIONS`), so that the two differ only in what the mock does per request.
"""

from __future__ import annotations

import json
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mockserver.http_protocol import SERVER_OPTIONS

CREATE_PATH = "/vendors/mulerouter/v1/wan2.6-i2v-spark/generation"
TASK_ID = "3c90c3cc-0d44-4b50-8888-8dd25736052a"
_INFO = {"id": TASK_ID, "status": "queued", "created_at": "2026-11-22T10:00:00Z", "updated_at": "2026-11-22T10:00:00Z"}
CREATED = json.dumps({"task_info": _INFO}).encode()
POLLED = json.dumps({"task_info": {**_INFO, "status": "running"}}).encode()


def create_floor() -> Starlette:
    """Two routes: a create that reads the body and answers 202, and a poll that answers 200."""

    async def create(request: Request) -> Response:
        await request.body()  # the mock reads every body; so does the floor
        return Response(CREATED, status_code=202, media_type="application/json")

    async def poll(request: Request) -> Response:
        return Response(POLLED, media_type="application/json")

    return Starlette(
        routes=[
            Route(CREATE_PATH, create, methods=["POST"]),
            Route(CREATE_PATH + "/{task_id}", poll, methods=["GET"]),
        ]
    )


def main(port: int) -> None:
    """Serve the floor on ``port`` until interrupted."""
    uvicorn.run(create_floor(), port=port, log_level="warning", access_log=False, **SERVER_OPTIONS)  # type: ignore[arg-type]


if __name__ == "__main__":
    main(int(sys.argv[1]))
