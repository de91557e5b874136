"""Liveness and readiness probes for load balancers and process managers."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from videoident import __version__

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    version: str


@router.get("/healthz", response_model=Health, summary="The process is up")
def healthz() -> Health:
    return Health(status="ok", version=__version__)
