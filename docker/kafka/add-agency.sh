#!/bin/bash
# Gives one agency its Kafka principal: SCRAM-SHA-512 user named by its agency code,
# WRITE on edx.submit, READ on its own inbox and its own consumer groups, READ on the
# directory. Nothing else: it cannot read another agency's inbox.
#
#   docker compose run --rm kafka-setup /edx/add-agency.sh 000.00.00.H41 'its-password'
#
# Register the agency in the directory (and create its inbox) with `edx agency add`.
set -euo pipefail

CODE=${1:?usage: add-agency.sh AGENCY_CODE PASSWORD}
PASSWORD=${2:?usage: add-agency.sh AGENCY_CODE PASSWORD}
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
    --alter --entity-type users --entity-name "$CODE" \
    --add-config "SCRAM-SHA-512=[iterations=8192,password=${PASSWORD}]"

acl() {
    "$BIN/kafka-acls.sh" --bootstrap-server "$KAFKA_BOOTSTRAP" --command-config "$ADMIN" \
        --add --allow-principal "User:$CODE" "$@"
}
acl --operation Write --topic "$EDX_TOPIC_SUBMIT"
acl --operation Read --topic "${EDX_TOPIC_INBOX_PREFIX}${CODE}"
acl --operation Read --group "edx-agency-${CODE}" --resource-pattern-type prefixed
acl --operation Read --topic "$EDX_TOPIC_AGENCIES"
acl --operation IdempotentWrite --cluster

echo "agency ${CODE} may write ${EDX_TOPIC_SUBMIT} and read ${EDX_TOPIC_INBOX_PREFIX}${CODE}"
