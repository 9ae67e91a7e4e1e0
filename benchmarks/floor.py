"""The floor of our stack: bare Starlette routes on uvicorn that return the mock's JSON and check nothing.

Served as ``uvicorn benchmarks.floor:create_floor --factory``, like the mock, so that the two differ
only in what the mock does per request.
"""

from __future__ import annotations

import json

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

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
