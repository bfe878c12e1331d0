"""Transcription worker (Vosk) and triage against the ILO forced-labour indicators."""
