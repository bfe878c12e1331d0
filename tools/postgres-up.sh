#!/usr/bin/env bash
# For the tests: start the local PostgreSQL cluster if it is installed but not running.
# Does nothing when PostgreSQL is not installed; the tests then say it was not tested.
set -u
command -v pg_isready >/dev/null 2>&1 || exit 0
pg_isready -q -h 127.0.0.1 -p 5432 && exit 0
if [ "$(id -u)" -eq 0 ] && command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    for version in /etc/postgresql/*; do
        pg_ctlcluster --skip-systemctl-redirect "$(basename "$version")" main start 2>/dev/null || true
    done
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && exit 0; sleep 0.5; done
fi
echo "desbumi: PostgreSQL at 127.0.0.1:5432 is not running" >&2
exit 0
