#!/bin/sh
# Entry of the worker image: the database password comes from the compose secret file, as
# libpq's PGPASSWORD (QUIETDAY_DATABASE_URL, in settings.env, names no password).
set -eu
# Compose mounts a secret with its host file's mode: one this user cannot read would leave the
# password unset, and PostgreSQL would only say "no password supplied". Stop and say why.
secret() {
    if [ ! -r "$1" ]; then
        echo "quietday: 用户 $(id -u) 读不到 $1: 在宿主机上 chmod 644 secrets/*(README.md, 生产部署)" >&2
        exit 1
    fi
    cat "$1"
}
if [ -e /run/secrets/db_password ]; then
    PGPASSWORD=$(secret /run/secrets/db_password)
    export PGPASSWORD
fi
exec "$@"
