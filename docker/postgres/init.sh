#!/bin/bash
# First start of PostgreSQL: one role and one database per service, nothing shared.
#   edxbus         the tracker's documents, deliveries and hash-chained history
#   edxbus_router  the router's memory of accepted documents (shared by all router replicas)
set -euo pipefail
: "${EDX_TRACKER_DB_PASSWORD:?}" "${EDX_ROUTER_DB_PASSWORD:?}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
     -v tracker_pw="$EDX_TRACKER_DB_PASSWORD" -v router_pw="$EDX_ROUTER_DB_PASSWORD" <<'SQL'
CREATE ROLE edx_tracker LOGIN PASSWORD :'tracker_pw';
CREATE ROLE edx_router LOGIN PASSWORD :'router_pw';
CREATE DATABASE edxbus OWNER edx_tracker;
CREATE DATABASE edxbus_router OWNER edx_router;
REVOKE ALL ON DATABASE edxbus FROM PUBLIC;
REVOKE ALL ON DATABASE edxbus_router FROM PUBLIC;
SQL
