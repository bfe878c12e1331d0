"""The process runner: the API, the FastAGI server, the worker and the scheduler.

``desbumi serve`` runs all four in ONE process (the village default); ``desbumi api``,
``agi``, ``worker`` and ``scheduler`` run one each, for deployments that scale out.
One asyncio loop per process; the worker and the scheduler are blocking loops on
threads, stopped through one ``threading.Event``.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum

import uvicorn

from admin_api.app import create_app
from core.clock import Clock, SystemClock
from core.db import Database
from core.periodic import queue_housekeeping, run_periodic
from core.settings import Settings
from core.worker import Handler, Worker
from desbumi import __version__
from ivr.fastagi import FastAgiServer
from ivr.service import interim_call_flow
from transcription import service as transcription
from transcription.service import TranscriptionHandler
from transcription.vosk_engine import ModelCache

logger = logging.getLogger(__name__)


class Part(StrEnum):
    api = "api"
    agi = "agi"
    worker = "worker"
    scheduler = "scheduler"


def job_handlers(settings: Settings, db: Database, clock: Clock) -> dict[str, Handler]:
    """The job kinds this installation runs, from the feature packages."""
    return {transcription.KIND: TranscriptionHandler(settings, db, clock, ModelCache())}


class _EmbeddedUvicorn(uvicorn.Server):
    """uvicorn without its own signal handling: the runner owns the signals."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Runtime:
    def __init__(self, settings: Settings, db: Database, clock: Clock | None = None) -> None:
        self.settings = settings
        self.db = db
        self.clock = clock or SystemClock()
        self.stop_threads = threading.Event()

    async def run(self, parts: set[Part]) -> None:
        """Run ``parts`` until SIGINT/SIGTERM; then stop each one cleanly."""
        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopping.set)
        tasks: list[asyncio.Task[None]] = []
        server: _EmbeddedUvicorn | None = None
        agi: FastAgiServer | None = None
        if Part.api in parts:
            app = create_app(self.settings, self.db, __version__)
            config = uvicorn.Config(
                app,
                host=self.settings.api.host,
                port=self.settings.api.port,
                log_config=None,
                access_log=False,
                lifespan="off",
            )
            server = _EmbeddedUvicorn(config)
            tasks.append(asyncio.create_task(server.serve(), name="api"))
            logger.info(
                "API on http://%s:%s (docs at /docs)",
                self.settings.api.host,
                self.settings.api.port,
            )
        if Part.agi in parts:
            agi = FastAgiServer(
                interim_call_flow,
                self.settings.agi.host,
                self.settings.agi.port,
                self.settings.agi.command_timeout_s,
            )
            await agi.start()
            tasks.append(asyncio.create_task(agi.serve_forever(), name="agi"))
        if Part.worker in parts:
            handlers = job_handlers(self.settings, self.db, self.clock)
            worker = Worker(self.db, handlers, self.settings.worker, self.clock)
            logger.info(
                "worker %s: %s thread(s), job kinds: %s",
                worker.owner,
                self.settings.worker.concurrency,
                ", ".join(handlers) or "none yet",
            )
            tasks.append(
                asyncio.create_task(
                    asyncio.to_thread(worker.run_threads, self.stop_threads), name="worker"
                )
            )
        if Part.scheduler in parts:
            periodic = [queue_housekeeping()]
            logger.info("scheduler: periodic tasks: %s", ", ".join(t.name for t in periodic))
            tasks.append(
                asyncio.create_task(
                    asyncio.to_thread(
                        run_periodic, self.db, periodic, self.clock, self.stop_threads
                    ),
                    name="scheduler",
                )
            )
        waiter = asyncio.create_task(stopping.wait(), name="signals")
        done, _pending = await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not waiter and task.exception() is not None:
                logger.error("%s stopped: %s", task.get_name(), task.exception())
        logger.info("stopping")
        self.stop_threads.set()
        if server is not None:
            server.should_exit = True
        if agi is not None:
            await agi.close()
        waiter.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.db.dispose()
        logger.info("stopped")
