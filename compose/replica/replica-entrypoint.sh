#!/bin/sh
# The replica's start: the first time, a base backup of the primary with -R (standby.signal
# and primary_conninfo written for us); then PostgreSQL as a hot standby streaming the WAL.
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  export PGPASSWORD="$POSTGRES_PASSWORD"
  until pg_isready -h postgres -p 5432 -U "$POSTGRES_USER"; do sleep 1; done
  pg_basebackup -h postgres -p 5432 -U "$POSTGRES_USER" -D "$PGDATA" -R -X stream --checkpoint=fast
  chmod 0700 "$PGDATA"
fi
exec postgres -c hot_standby=on -c max_connections="${POSTGRES_MAX_CONNECTIONS:-300}"
