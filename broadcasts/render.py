"""The ``broadcasts.render_content`` job: an approved text item's radio audio.

Approval queues it (:func:`broadcasts.library.approve`). The worker synthesises the text
with the hotline's TTS path into ``content/<slug>/v<version>/speech.wav`` outside any
transaction, measures it, and commits the path and duration with the job's completion.
Until then the planner leaves the item out (it cannot time what it has not heard).
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from audio.errors import AudioError
from audio.ffprobe import probe_media
from audio.mastering import measure_loudness
from audio.tts import SynthesisError, synthesize_master
from broadcasts.library import RENDER_KIND, rendered_path, set_rendered_audio
from core.clock import Clock
from core.db import Database
from core.errors import JobFailed
from core.models import ContentItem
from core.queue import ClaimedJob
from core.settings import Settings
from core.states import ContentStatus
from core.worker import Effect

logger = logging.getLogger(__name__)

KIND = RENDER_KIND


class RenderContentHandler:
    """Synthesise one approved text item for the radio."""

    def __init__(self, settings: Settings, db: Database, clock: Clock) -> None:
        self.settings = settings
        self.db = db
        self.clock = clock

    def __call__(self, job: ClaimedJob) -> Effect | None:
        item_id = int(job.payload["content_item_id"])
        with self.db.read_session() as session, session.begin():
            item = session.get(ContentItem, item_id)
            if item is None:
                raise JobFailed(f"content item {item_id} does not exist")
            if item.status is not ContentStatus.approved or item.radio_audio_path:
                return None  # retired meanwhile, or a recording: nothing to do
            text, language, relative = item.body_text, item.language, rendered_path(item)
        target = self.settings.data_dir / relative
        try:
            synthesize_master(text, language, target, self.settings.ffmpeg)
            duration = probe_media(self.settings.ffprobe, target).duration_s
            loudness = measure_loudness(self.settings.ffmpeg, ["-i", str(target)])
        except SynthesisError as exc:
            raise JobFailed(f"content item {item_id} cannot be spoken: {exc}") from None
        except AudioError as exc:
            raise JobFailed(f"content item {item_id}: {exc}") from None
        logger.info("job_id=%s content_item_id=%s rendered %.1f s", job.id, item_id, duration)

        def apply(session: Session) -> None:
            current = session.get(ContentItem, item_id)
            if current is not None and current.audio_path is None:
                set_rendered_audio(
                    current, relative, duration, loudness.integrated_lufs, loudness.true_peak_db
                )

        return apply
