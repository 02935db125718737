#!/bin/bash
# One-shot job: creates the service principals (SCRAM-SHA-512) and their ACLs.
#
# Principals and what they may do (DESIGN.md §3):
#   router   READ edx.submit (group edx-router), READ edx.agencies,
#            WRITE edx.inbox.* / edx.events / edx.deadletter, CREATE its topics
#   tracker  READ edx.events (group edx-tracker), READ edx.agencies
#   agencies one principal each, added with add-agency.sh: WRITE edx.submit,
#            READ only edx.inbox.<its code>
# Idempotent: re-running it re-applies the same credentials and ACLs.
set -euo pipefail

: "${KAFKA_ADMIN_PASSWORD:?}" "${EDX_ROUTER_PASSWORD:?}" "${EDX_TRACKER_PASSWORD:?}"
# Names as the code has them by default (bus.settings); tests/test_compose.py checks them.
: "${EDX_TOPIC_SUBMIT:=edx.submit}"
: "${EDX_TOPIC_INBOX_PREFIX:=edx.inbox.}"
: "${EDX_TOPIC_EVENTS:=edx.events}"
: "${EDX_TOPIC_DEADLETTER:=edx.deadletter}"
: "${EDX_TOPIC_AGENCIES:=edx.agencies}"
: "${EDX_ROUTER_GROUP:=edx-router}"
: "${EDX_TRACKER_GROUP:=edx-tracker}"

source "${BASH_SOURCE[0]%/*}/admin.sh"

until "$BIN/kafka-broker-api-versions.sh" --bootstrap-server "$KAFKA_BOOTSTRAP" \
        --command-config "$ADMIN" >/dev/null 2>&1; do
    echo "waiting for the brokers..."; sleep 3
done

user router "$EDX_ROUTER_PASSWORD"
acl router --operation Read --topic "$EDX_TOPIC_SUBMIT"
acl router --operation Read --group "$EDX_ROUTER_GROUP" --resource-pattern-type prefixed
acl router --operation Read --topic "$EDX_TOPIC_AGENCIES"
acl router --operation Write --operation Describe --topic "$EDX_TOPIC_INBOX_PREFIX" --resource-pattern-type prefixed
acl router --operation Write --topic "$EDX_TOPIC_EVENTS"
acl router --operation Write --topic "$EDX_TOPIC_DEADLETTER"
acl router --operation IdempotentWrite --cluster
# The router makes sure its topics exist at start (bus.topics.ensure_topics): creating a
# topic that exists must answer "already exists", not "not authorised".
for topic in "$EDX_TOPIC_SUBMIT" "$EDX_TOPIC_EVENTS" "$EDX_TOPIC_DEADLETTER" "$EDX_TOPIC_AGENCIES"; do
    acl router --operation Create --operation DescribeConfigs --topic "$topic"
done
acl router --operation Create --operation DescribeConfigs --topic "$EDX_TOPIC_INBOX_PREFIX" --resource-pattern-type prefixed

user tracker "$EDX_TRACKER_PASSWORD"
acl tracker --operation Read --topic "$EDX_TOPIC_EVENTS"
acl tracker --operation Read --group "$EDX_TRACKER_GROUP" --resource-pattern-type prefixed
acl tracker --operation Read --topic "$EDX_TOPIC_AGENCIES"

echo "service principals and ACLs are in place"
