#!/bin/sh
# A Docker Engine with Compose v2 on this Debian bookworm machine (root; no systemd needed):
# Debian's docker.io (dockerd 20.10) and debootstrap (for the stand-in images, build.sh), and
# Compose v2, which is trixie's docker-compose package (bookworm's is v1): its .deb is fetched by
# apt from a trixie source kept in a private apt state under /var/tmp, so the machine's own
# sources and package lists stay as they are, and installed with dpkg (it needs only libc6).
# Starts dockerd when none answers. Run by .ci/run and `make deploy-test`.
set -eu
state=/var/tmp/quietday-compose
if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io debootstrap >/dev/null
fi
if ! docker compose version --short 2>/dev/null | grep -q '^v\{0,1\}2\.'; then
    mkdir -p "$state/lists/partial" "$state/cache/archives/partial"
    echo 'deb http://deb.debian.org/debian trixie main' >"$state/sources.list"
    set -- -qq -o "Dir::Etc::SourceList=$state/sources.list" -o Dir::Etc::SourceParts=- \
        -o "Dir::State::Lists=$state/lists" -o "Dir::Cache=$state/cache" -o APT::Sandbox::User=root
    apt-get "$@" update
    (cd "$state" && rm -f docker-compose_*.deb && apt-get "$@" download docker-compose)
    dpkg -i "$state"/docker-compose_*.deb >/dev/null
fi
if ! docker info >/dev/null 2>&1; then
    nohup dockerd >/var/tmp/quietday-dockerd.log 2>&1 &
    tries=0
    until docker info >/dev/null 2>&1; do
        tries=$((tries + 1))
        if [ "$tries" -gt 60 ]; then
            tail -n 20 /var/tmp/quietday-dockerd.log >&2
            exit 1
        fi
        sleep 1
    done
fi
docker compose version
