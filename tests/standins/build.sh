#!/bin/sh
# Stand-ins for the upstream images that compose.yaml and the Dockerfiles name, for a machine
# that reaches Debian's package mirrors but no container registry (CI here). Each is Debian
# bookworm (debootstrap --variant=minbase, docker import) with the same program from Debian's
# packages, tagged as the official image, so that `docker compose up --build` uses the committed
# files unchanged. A tag already present without our label (the official image, pulled) is used
# as it is and never overwritten. A stand-in is current while its label carries the hash of the
# files in this folder and of the machine's CA bundle; otherwise it is built again. Production
# pulls the official images.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cache=${QUIETDAY_STANDIN_CACHE:-/var/tmp/quietday-standins}
# The machine's own trust store, as its pip and npm use it (a TLS proxy's CA may be in it).
trust=${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}
recipe=$(cat "$here"/build.sh "$here"/*.Dockerfile "$here"/postgres-entrypoint.sh "$trust" |
    sha256sum | cut -c1-16)
base=quietday-standin/debian:bookworm
mkdir -p "$cache/context"
cp "$here"/*.Dockerfile "$here"/postgres-entrypoint.sh "$cache/context/"
cp "$trust" "$cache/context/ca-certificates.crt"

label() { docker image inspect -f '{{index .Config.Labels "quietday.standin"}}' "$1" 2>/dev/null; }

if [ "$(label "$base")" != "$recipe" ]; then
    rm -rf "$cache/rootfs"
    debootstrap --variant=minbase bookworm "$cache/rootfs" http://deb.debian.org/debian >"$cache/debootstrap.log"
    tar -C "$cache/rootfs" -c . | docker import --change "LABEL quietday.standin=$recipe" - "$base" >/dev/null
    rm -rf "$cache/rootfs"
fi

for pair in postgres:15-bookworm=postgres nginx:1.27-bookworm=nginx \
    python:3.11-slim-bookworm=python node:20-bookworm-slim=node; do
    tag=${pair%=*} name=${pair#*=}
    have=$(label "$tag" || true)
    if docker image inspect "$tag" >/dev/null 2>&1 && [ -z "$have" ]; then
        echo "$tag: present and not a stand-in, used as it is"
    elif [ "$have" != "$recipe" ]; then
        DOCKER_BUILDKIT=0 docker build --label "quietday.standin=$recipe" -t "$tag" \
            -f "$cache/context/$name.Dockerfile" "$cache/context" >"$cache/$name.log" 2>&1 \
            || { tail -n 30 "$cache/$name.log" >&2; exit 1; }
        echo "$tag: stand-in built from Debian's packages"
    fi
done
docker image prune --force --filter label=quietday.standin >/dev/null
