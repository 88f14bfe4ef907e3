"""The application factory: ``create_app(settings)`` builds a service with its own data dir.

``uvicorn api.app:create_app --factory`` reads the settings from the environment.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI

from frd import __version__ as frd_version

from . import errors, web
from .db import Database
from .jobs import JobRunner
from .lifecycle import Janitor
from .metrics import REGISTRY, JobStateCollector
from .routes import comparisons, datasets, health, jobs, listings, stats, sync
from .settings import Settings
from .store import BlobStore

log = logging.getLogger("frd.api")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.data_dir / "frd.sqlite3", busy_timeout=settings.db_busy_timeout)
    store = BlobStore(settings.data_dir)
    runner = JobRunner(db, store, settings)
    janitor = Janitor(db, store, settings)
    collector = JobStateCollector(db)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        REGISTRY.register(collector)
        runner.start()
        janitor.start()  # its first sweep removes what a crash left (temp files, orphans)
        if not settings.api_keys:
            log.warning(
                "no API keys configured (FRD_API_KEYS): only loopback clients are served%s",
                "" if not settings.allow_public_without_keys else " — overridden: ALL clients are served",
            )
        yield
        janitor.stop()
        runner.stop()
        if getattr(app.state, "sync_slots", None) is not None:
            app.state.sync_slots.close()
        REGISTRY.unregister(collector)

    app = FastAPI(
        title="frd service",
        version=frd_version,
        description="Upload medical image sets and compare them with the Fréchet Radiomic Distance.",
        lifespan=lifespan,
    )
    app.state.settings, app.state.db, app.state.store, app.state.runner = settings, db, store, runner
    errors.install(app)
    app.add_middleware(errors.BodyLimit, max_bytes=settings.max_json_bytes)
    for module in (health, datasets, comparisons, jobs, stats, sync):
        app.include_router(module.router)
    app.include_router(comparisons.ood_router)
    app.include_router(listings.router)
    web.install(app)
    return app
