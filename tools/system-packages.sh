#!/usr/bin/env bash
# Makes sure the system programs desbumi uses are installed (Debian/Ubuntu).
# As root it installs what is missing with apt-get; otherwise it says what to run.
# It reads package sources from the machine's own apt configuration.
#
#   tools/system-packages.sh          what desbumi runs with (make run)
#   tools/system-packages.sh --test   and what its tests drive (make test)
set -euo pipefail

need=()
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
command -v sox >/dev/null 2>&1 || need+=(sox)
command -v espeak-ng >/dev/null 2>&1 || need+=(espeak-ng)
if [ "${1:-}" = "--test" ]; then
    # The browser tests drive Debian's Chromium with Playwright (its own download cannot
    # work offline); a real podcast client (podget) subscribes to the radio feeds.
    command -v chromium >/dev/null 2>&1 || need+=(chromium)
    command -v podget >/dev/null 2>&1 || need+=(podget)
    # The systemd unit in deploy/systemd is checked with systemd-analyze verify.
    command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
fi
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "desbumi: missing system packages: ${need[*]}" >&2
    echo "         install them with: sudo apt-get install -y ${need[*]}" >&2
    exit 1
fi
echo "installing system packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
