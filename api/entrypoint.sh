#!/bin/sh
# Entry of the API image: compose secrets are files in /run/secrets, the process reads its
# settings from the environment. PGPASSWORD is libpq's own variable, so that
# QUIETDAY_DATABASE_URL (in settings.env, committed) names no password.
set -eu
if [ -r /run/secrets/db_password ]; then
    PGPASSWORD=$(cat /run/secrets/db_password)
    export PGPASSWORD
fi
if [ -r /run/secrets/session_secret ]; then
    QUIETDAY_SESSION_SECRET=$(cat /run/secrets/session_secret)
    export QUIETDAY_SESSION_SECRET
fi
exec "$@"
