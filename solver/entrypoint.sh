#!/bin/sh
# Entry of the worker image: the database password comes from the compose secret file, as
# libpq's PGPASSWORD (QUIETDAY_DATABASE_URL, in settings.env, names no password).
set -eu
if [ -r /run/secrets/db_password ]; then
    PGPASSWORD=$(cat /run/secrets/db_password)
    export PGPASSWORD
fi
exec "$@"
