"""The HTTP API and web pages for case workers, editors, admins and radio stations."""
