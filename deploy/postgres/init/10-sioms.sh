#!/usr/bin/env bash
# Postgres' first start in docker-compose (the official image runs /docker-entrypoint-initdb.d/
# once, on an empty data volume): the services' role and their four databases, as `make up`
# creates them natively. Each service runs its own migrations when it starts.
set -euo pipefail
: "${SIOMS_DB_USER:?}" "${SIOMS_DB_PASSWORD:?}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v user="$SIOMS_DB_USER" -v password="$SIOMS_DB_PASSWORD" <<'SQL'
CREATE ROLE :"user" LOGIN PASSWORD :'password';
CREATE DATABASE sioms_orders OWNER :"user";
CREATE DATABASE sioms_pricing OWNER :"user";
CREATE DATABASE sioms_analytics OWNER :"user";
CREATE DATABASE sioms_notifier OWNER :"user";
SQL
