"""The process runner: the API, the FastAGI server, the worker and the scheduler.

``desbumi serve`` runs all four in ONE process (the village default); ``desbumi api``,
``agi``, ``worker`` and ``scheduler`` run one each, for deployments that scale out.
One asyncio loop per process; the worker and the scheduler are blocking loops on
threads, stopped through one ``threading.Event``.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum

import uvicorn

from admin_api.app import create_app
from broadcasts import render as content_render
from broadcasts import segments as radio_segments
from broadcasts.render import RenderContentHandler
from broadcasts.schedule import radio_tasks
from broadcasts.segments import AssembleSegmentHandler
from core.clock import Clock, SystemClock
from core.collector import PacedCollector
from core.db import Database
from core.errors import ConfigurationError
from core.periodic import PeriodicTask, queue_housekeeping, run_periodic
from core.retention import retention_task
from core.settings import Settings
from core.worker import Handler, Worker
from desbumi import __version__
from ivr.app import ami_connection, build_hotline, hotline_tasks, warm_prompts
from ivr.fastagi import FastAgiServer
from transcription import service as transcription
from transcription.service import TranscriptionHandler
from transcription.vosk_engine import ModelCache

logger = logging.getLogger(__name__)

# How long stopping waits for background threads (the prompt warm-up) to notice.
BACKGROUND_STOP_S = 30.0
AGI_SWITCH_INTERVAL_S = 0.0005


class Part(StrEnum):
    api = "api"
    agi = "agi"
    worker = "worker"
    scheduler = "scheduler"


def job_handlers(settings: Settings, db: Database, clock: Clock) -> dict[str, Handler]:
    """The job kinds this installation runs, from the feature packages."""
    return {
        transcription.KIND: TranscriptionHandler(settings, db, clock, ModelCache()),
        content_render.KIND: RenderContentHandler(settings, db, clock),
        radio_segments.KIND: AssembleSegmentHandler(settings, db, clock),
    }


def _cannot_listen(part: str, host: str, port: int, exc: OSError) -> ConfigurationError:
    """The one-line error for a listener that cannot start; ``part`` is ``API`` or ``AGI``."""
    if isinstance(exc, socket.gaierror):
        return ConfigurationError(
            f"DESBUMI_{part}__HOST: cannot resolve {host!r}: {exc.strerror}; use an IP address"
        )
    # asyncio's OSError carries a long strerror; the errno's own text is the clear part.
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    return ConfigurationError(
        f"DESBUMI_{part}__PORT: cannot listen on {host}:{port}: {reason}; stop what holds "
        f"the port or choose another with DESBUMI_{part}__HOST/PORT"
    )


def serve_calls_in_realtime(priority: int) -> None:
    """Put the calling thread (the event loop's) at SCHED_RR ``priority``; the threads and
    processes it starts later (database helper, worker threads) keep normal scheduling.

    Refused (no CAP_SYS_NICE, no LimitRTPRIO): one warning, and calls are served anyway.
    """
    policy = os.SCHED_RR | os.SCHED_RESET_ON_FORK
    try:
        os.sched_setscheduler(0, policy, os.sched_param(priority))
    except OSError as exc:
        logger.warning(
            "DESBUMI_AGI__REALTIME_PRIORITY=%s refused (%s): calls are served at normal "
            "priority; allow it with LimitRTPRIO=%s (systemd) or CAP_SYS_NICE",
            priority,
            exc.strerror,
            priority,
        )
    else:
        logger.info("hotline: calls served at real-time priority %s (SCHED_RR)", priority)


def _bind(part: str, host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port``, or a ConfigurationError naming the setting.

    Bound before any part starts: uvicorn answers a taken port with ``sys.exit`` from
    inside its task, which escapes the loop as a traceback while other parts run.
    Same family choice as uvicorn's own ``Config.bind_socket``.
    """
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise _cannot_listen(part, host, port, exc) from None
    return sock


class _EmbeddedUvicorn(uvicorn.Server):
    """uvicorn without its own signal handling: the runner owns the signals."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Runtime:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        clock: Clock | None = None,
        periodic_tasks: Sequence[PeriodicTask] | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.clock = clock or SystemClock()
        # None: the installation's own tasks (queue housekeeping and the hotline's).
        self.periodic_tasks = list(periodic_tasks) if periodic_tasks is not None else None
        self.stop_threads = threading.Event()

    async def run(self, parts: set[Part]) -> int:
        """Run ``parts`` until SIGINT/SIGTERM, then stop each one cleanly.

        Returns the exit status: 0 after a signal, 1 when a part stopped on its own.
        """
        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopping.set)
        tasks: list[asyncio.Task[None]] = []
        server: _EmbeddedUvicorn | None = None
        agi: FastAgiServer | None = None
        # Take both ports before anything runs (the hotline's helper process included), so a
        # taken port stops the start cleanly.
        api_socket = (
            _bind("API", self.settings.api.host, self.settings.api.port)
            if Part.api in parts
            else None
        )
        background: list[asyncio.Task[object]] = []
        counting: asyncio.Task[None] | None = None
        collector: PacedCollector | None = None
        collecting: asyncio.Task[None] | None = None
        ami = None
        agi_socket = None
        if Part.agi in parts:
            try:
                agi_socket = _bind("AGI", self.settings.agi.host, self.settings.agi.port)
            except ConfigurationError:
                if api_socket is not None:
                    api_socket.close()
                raise
            # One event loop serves every call; a database thread holding the GIL for the
            # default 5 ms switch interval delays the next prompt of every other caller
            # (measured by bench/hotline_load.py). Hand the GIL back ten times sooner.
            sys.setswitchinterval(AGI_SWITCH_INTERVAL_S)
            if self.settings.agi.realtime_priority:
                serve_calls_in_realtime(self.settings.agi.realtime_priority)
            hotline = build_hotline(self.settings, self.db, self.clock)
            # What is loaded now lives as long as the process; a full collection scanning
            # it all stalls every call for a few hundred ms (measured): leave it out.
            if self.settings.agi.gc_interval_s:
                collector = PacedCollector(self.settings.agi.gc_interval_s)
                collector.take_over()
                collecting = asyncio.create_task(collector.run(), name="garbage collection")
            else:
                gc.freeze()
            agi = FastAgiServer(
                hotline,
                self.settings.agi.host,
                self.settings.agi.port,
                self.settings.agi.command_timeout_s,
            )
            await agi.start(agi_socket)
            tasks.append(asyncio.create_task(agi.serve_forever(), name="agi"))
            if self.settings.agi.counts_interval_s:
                counting = asyncio.create_task(
                    hotline.log_counts(self.settings.agi.counts_interval_s), name="counts"
                )
            # Prompts are synthesised ahead of the first call; calls do not wait for it.
            background.append(
                asyncio.create_task(
                    asyncio.to_thread(warm_prompts, hotline, self.stop_threads),
                    name="prompt warm-up",
                )
            )
        if api_socket is not None:
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
            tasks.append(asyncio.create_task(server.serve(sockets=[api_socket]), name="api"))
            logger.info(
                "API on http://%s:%s (docs at /docs)",
                self.settings.api.host,
                self.settings.api.port,
            )
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
            periodic = self.periodic_tasks
            if periodic is None:
                ami = ami_connection(self.settings)
                if ami is not None:
                    ami.start()
                else:
                    logger.warning("DESBUMI_AMI__SECRET is empty: missed calls are not called back")
                periodic = [
                    queue_housekeeping(),
                    *hotline_tasks(self.settings, ami),
                    *radio_tasks(self.settings),
                    retention_task(self.settings),
                ]
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
        # A part that ends before it is told to is a failure: the exit status must say so,
        # or a supervisor (systemd) would never restart the process.
        died = [task for task in done if task is not waiter]
        for task in died:
            error = None if task.cancelled() else task.exception()
            logger.error("%s stopped on its own: %s", task.get_name(), error or "it returned")
        logger.info("stopping")
        self.stop_threads.set()
        if server is not None:
            server.should_exit = True
        if counting is not None:
            counting.cancel()
        if collecting is not None:
            collecting.cancel()
        if agi is not None:
            await agi.close()
            await asyncio.to_thread(hotline.close)
        waiter.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if background:
            # The prompt warm-up runs on a thread, which cancel() cannot stop: it looks at
            # stop_threads between prompts. Wait for it (bounded by one synthesis) so that
            # nothing uses the database or logs after "stopped".
            _done, late = await asyncio.wait(background, timeout=BACKGROUND_STOP_S)
            for extra in late:
                logger.warning("%s still running at stop", extra.get_name())
        if ami is not None:
            ami.close()
        if collector is not None:
            collector.give_back()
            logger.info("hotline garbage collection: %s", collector.stats.describe())
        self.db.dispose()
        logger.info("stopped")
        return 1 if died else 0
