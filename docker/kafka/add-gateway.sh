#!/bin/bash
# Gives the gateway its Kafka principal and the inboxes of the agencies it serves:
# SCRAM-SHA-512 user "gateway", WRITE on edx.submit, READ on the directory, and READ on
# the inbox of each agency named (literal ACLs: never another agency's inbox).
# Run it again with the new codes when a system is given more agencies.
#
#   docker compose run --rm kafka-setup /edx/add-gateway.sh 'its-password' 000.00.00.H41 ...
set -euo pipefail

PASSWORD=${1:?usage: add-gateway.sh PASSWORD AGENCY_CODE...}
shift
: "${KAFKA_ADMIN_PASSWORD:?}"
: "${KAFKA_BOOTSTRAP:=kafka-1:9092,kafka-2:9092,kafka-3:9092}"
: "${EDX_TOPIC_SUBMIT:=edx.submit}"
: "${EDX_TOPIC_INBOX_PREFIX:=edx.inbox.}"
: "${EDX_TOPIC_AGENCIES:=edx.agencies}"

BIN=/opt/kafka/bin
ADMIN=/tmp/admin.properties
cat >"$ADMIN" <<PROPERTIES
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="${KAFKA_ADMIN_PASSWORD}";
PROPERTIES

"$BIN/kafka-configs.sh" --bootstrap-server "$KAFKA_BOOTSTRAP" --command-config "$ADMIN" \
    --alter --entity-type users --entity-name gateway \
    --add-config "SCRAM-SHA-512=[iterations=8192,password=${PASSWORD}]"

acl() {
    "$BIN/kafka-acls.sh" --bootstrap-server "$KAFKA_BOOTSTRAP" --command-config "$ADMIN" \
        --add --allow-principal "User:gateway" "$@"
}
acl --operation Write --topic "$EDX_TOPIC_SUBMIT"
acl --operation Read --operation Describe --topic "$EDX_TOPIC_AGENCIES"
acl --operation IdempotentWrite --cluster
for CODE in "$@"; do
    acl --operation Read --operation Describe --topic "${EDX_TOPIC_INBOX_PREFIX}${CODE}"
    echo "the gateway may read ${EDX_TOPIC_INBOX_PREFIX}${CODE}"
done
