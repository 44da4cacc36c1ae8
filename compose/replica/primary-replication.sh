#!/bin/sh
# Run once by the postgres image when it initialises a new data directory
# (/docker-entrypoint-initdb.d): lets the replica stream WAL with the same password.
# For a data directory made before, append the line by hand and reload (SELECT pg_reload_conf()).
set -eu
echo "host replication ${POSTGRES_USER} all scram-sha-256" >> "$PGDATA/pg_hba.conf"
