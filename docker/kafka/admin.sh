#!/bin/bash
# Sourced by the ACL scripts (setup-security.sh, add-agency.sh, add-gateway.sh): how they
# reach the cluster as its admin, and the two things they do there. Needs
# KAFKA_ADMIN_PASSWORD; KAFKA_BOOTSTRAP defaults to the three brokers of compose.yaml.
: "${KAFKA_ADMIN_PASSWORD:?}"
: "${KAFKA_BOOTSTRAP:=kafka-1:9092,kafka-2:9092,kafka-3:9092}"

BIN=/opt/kafka/bin
ADMIN=/tmp/admin.properties
cat >"$ADMIN" <<PROPERTIES
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="${KAFKA_ADMIN_PASSWORD}";
PROPERTIES

user() {  # user NAME PASSWORD: the SCRAM-SHA-512 principal, created or given this password
    "$BIN/kafka-configs.sh" --bootstrap-server "$KAFKA_BOOTSTRAP" --command-config "$ADMIN" \
        --alter --entity-type users --entity-name "$1" \
        --add-config "SCRAM-SHA-512=[iterations=8192,password=$2]"
}
acl() {  # acl PRINCIPAL ARGS...: allow PRINCIPAL what ARGS say
    local principal=$1; shift
    "$BIN/kafka-acls.sh" --bootstrap-server "$KAFKA_BOOTSTRAP" --command-config "$ADMIN" \
        --add --allow-principal "User:$principal" "$@"
}
