"""Demo data for ``desbumi init --demo``: regions, approved content, a programme, a station."""
