#!/bin/sh
# Entry of the API image: compose secrets are files in /run/secrets, the process reads its
# settings from the environment. PGPASSWORD is libpq's own variable, so that
# QUIETDAY_DATABASE_URL (in settings.env, committed) names no password.
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
if [ -e /run/secrets/session_secret ]; then
    QUIETDAY_SESSION_SECRET=$(secret /run/secrets/session_secret)
    export QUIETDAY_SESSION_SECRET
fi
exec "$@"
