"""Settings, database, domain models, migrations, job queue and security primitives."""
