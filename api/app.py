"""The FastAPI application factory.

``create_app(settings)`` builds one application; nothing is created at import time, so tests build as
many isolated apps as they like.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.deps import bank_banner, bank_lifespan
from api.errors import install_error_handlers
from api.media.cluster import LiveCluster
from api.media.cluster_proxy import LiveRoutingMiddleware
from api.routers import bank, console, health
from api.routers import customer as customer_router
from videoident import __version__
from videoident.settings import Settings

__all__ = ["create_app"]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with bank_lifespan(app):  # database, migrations, webhook delivery, session expiry
            if not settings.redis_url:
                yield
                return
            # Scaled mode: this worker's live sessions are leased in Redis and reachable from every worker.
            cluster = LiveCluster(settings)
            await cluster.start()
            app.state.live_cluster = cluster
            try:
                yield
            finally:
                hub = getattr(app.state, "live_hub", None)
                if hub is not None:  # release the leases while Redis is still open
                    await hub.close_all()
                await cluster.stop()

    app = FastAPI(
        title="videoident",
        version=__version__,
        summary="Remote video identification (KYC): bank API, customer page, agent console.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.include_router(health.router)
    install_error_handlers(app)  # problem+json under /v1
    app.include_router(bank.router)
    app.include_router(customer_router.router)  # /ident/{token}: the customer's page and live session
    app.include_router(console.router)  # agent console at /console
    if settings.redis_url:  # several workers: requests that need a live session go to the worker holding it
        app.add_middleware(LiveRoutingMiddleware)

    def startup_banner(base_url: str) -> list[str]:
        return [
            f"videoident {__version__} ({settings.environment.value})",
            f"  OpenAPI docs:   {base_url}/docs",
            f"  agent console:  {base_url}/console  (accounts: videoident agents create NAME --role agent)",
            f"  customer page:  {base_url}/ident/<token>  (the customer_url of POST /v1/sessions)",
            f"  data:           {settings.data_dir}",
            *bank_banner(app, base_url),
        ]

    banner: Callable[[str], list[str]] = startup_banner
    app.state.startup_banner = banner
    return app
