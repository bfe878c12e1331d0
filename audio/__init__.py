"""Text-to-speech, Indonesian text normalisation, ffmpeg/sox adapters and loudness."""
