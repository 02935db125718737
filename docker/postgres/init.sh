#!/bin/bash
# First start of PostgreSQL: one role and one database per service, nothing shared.
#   edxbus         the tracker's documents, deliveries and hash-chained history
#   edxbus_router  the router's memory of accepted documents (shared by all router replicas)
#   edxbus_gateway the gateway's systems (their secrets: only its role may read them),
#                  inbox items and idempotency records
set -euo pipefail
: "${EDX_TRACKER_DB_PASSWORD:?}" "${EDX_ROUTER_DB_PASSWORD:?}" "${GATEWAY_DB_PASSWORD:?}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
     -v tracker_pw="$EDX_TRACKER_DB_PASSWORD" -v router_pw="$EDX_ROUTER_DB_PASSWORD" \
     -v gateway_pw="$GATEWAY_DB_PASSWORD" <<'SQL'
CREATE ROLE edx_tracker LOGIN PASSWORD :'tracker_pw';
CREATE ROLE edx_router LOGIN PASSWORD :'router_pw';
CREATE ROLE edx_gateway LOGIN PASSWORD :'gateway_pw';
CREATE DATABASE edxbus OWNER edx_tracker;
CREATE DATABASE edxbus_router OWNER edx_router;
CREATE DATABASE edxbus_gateway OWNER edx_gateway;
REVOKE ALL ON DATABASE edxbus FROM PUBLIC;
REVOKE ALL ON DATABASE edxbus_router FROM PUBLIC;
REVOKE ALL ON DATABASE edxbus_gateway FROM PUBLIC;
-- The gateway reads the tracker's tables (getSentEdocList), nothing more.
GRANT CONNECT ON DATABASE edxbus TO edx_gateway;
\connect edxbus
ALTER DEFAULT PRIVILEGES FOR ROLE edx_tracker IN SCHEMA public GRANT SELECT ON TABLES TO edx_gateway;
SQL
