#!/bin/bash
# The part of postgres:15-bookworm's docker-entrypoint.sh that compose.yaml relies on: the
# password from POSTGRES_PASSWORD_FILE (read as root, before dropping to postgres), an empty
# PGDATA initialised with POSTGRES_USER and POSTGRES_DB by a temporary server that listens on
# its socket only, trust inside the container and scram-sha-256 from the network.
set -Eeuo pipefail
if [ "$1" = postgres ]; then
    if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then
        POSTGRES_PASSWORD=$(<"$POSTGRES_PASSWORD_FILE")
        export POSTGRES_PASSWORD
        unset POSTGRES_PASSWORD_FILE
    fi
    if [ "$(id -u)" = 0 ]; then
        mkdir -p "$PGDATA"
        chmod 00700 "$PGDATA"
        chown postgres:postgres "$PGDATA"
        exec gosu postgres "$BASH_SOURCE" "$@"
    fi
    if [ ! -s "$PGDATA/PG_VERSION" ]; then
        : "${POSTGRES_PASSWORD:?the database is uninitialised and POSTGRES_PASSWORD is not set}"
        user=${POSTGRES_USER:-postgres}
        db=${POSTGRES_DB:-$user}
        initdb --username="$user" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
            --encoding=UTF8 --locale=C.UTF-8 -D "$PGDATA"
        printf '\nhost all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
        pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start
        if [ "$db" != postgres ]; then
            psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$user" --dbname postgres \
                -c "CREATE DATABASE \"$db\""
        fi
        pg_ctl -D "$PGDATA" -m fast -w stop
        echo 'PostgreSQL init process complete; ready for start up.'
    fi
fi
exec "$@"
