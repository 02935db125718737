#!/bin/bash
# Starts one KRaft node (broker + controller) of the edxbus cluster.
#
# The server configuration is written here from environment variables so that the
# three nodes share one template; the storage is formatted on first start with the
# SCRAM credential of the inter-broker principal (KRaft keeps SCRAM credentials in
# its metadata log, so the brokers need it before any client can create users).
set -euo pipefail

: "${KAFKA_NODE_ID:?}" "${KAFKA_CLUSTER_ID:?}" "${KAFKA_EXTERNAL_HOST:?}" "${KAFKA_EXTERNAL_PORT:?}"
: "${KAFKA_ADMIN_PASSWORD:?}" "${KAFKA_CONTROLLER_PASSWORD:?}"
: "${KAFKA_QUORUM_VOTERS:=1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093}"
: "${KAFKA_MIN_INSYNC_REPLICAS:=2}"
: "${KAFKA_DEFAULT_REPLICATION_FACTOR:=3}"

DATA_DIR=/var/lib/kafka/data
CONFIG=/tmp/edx-server.properties
TLS_DIR=/etc/kafka/tls

cat >"$CONFIG" <<PROPERTIES
node.id=${KAFKA_NODE_ID}
process.roles=broker,controller
controller.quorum.voters=${KAFKA_QUORUM_VOTERS}
log.dirs=${DATA_DIR}

# INTERNAL: brokers, router, tracker and operators on the compose network.
# EXTERNAL: agencies, over TLS.  CONTROLLER: the KRaft quorum only (never published).
listeners=INTERNAL://:9092,CONTROLLER://:9093,EXTERNAL://:9094
advertised.listeners=INTERNAL://kafka-${KAFKA_NODE_ID}:9092,EXTERNAL://${KAFKA_EXTERNAL_HOST}:${KAFKA_EXTERNAL_PORT}
listener.security.protocol.map=INTERNAL:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT,EXTERNAL:SASL_SSL
inter.broker.listener.name=INTERNAL
controller.listener.names=CONTROLLER

sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.internal.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="${KAFKA_ADMIN_PASSWORD}";
listener.name.external.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
# SCRAM credentials live in the metadata the controllers serve, so the quorum itself uses PLAIN.
listener.name.controller.sasl.enabled.mechanisms=PLAIN
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="controller" password="${KAFKA_CONTROLLER_PASSWORD}" user_controller="${KAFKA_CONTROLLER_PASSWORD}";

ssl.keystore.type=PEM
ssl.keystore.location=${TLS_DIR}/kafka-${KAFKA_NODE_ID}.pem
ssl.endpoint.identification.algorithm=https

# Who may do what is decided by ACLs alone (docker/kafka/setup-security.sh).
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:admin;User:controller

# Durability: every topic on three brokers, a write needs two of them.
default.replication.factor=${KAFKA_DEFAULT_REPLICATION_FACTOR}
min.insync.replicas=${KAFKA_MIN_INSYNC_REPLICAS}
offsets.topic.replication.factor=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
unclean.leader.election.enable=false
# Topics are created by the topic-init job with edxbus's own settings, never by accident.
auto.create.topics.enable=false
# The exchange keeps its record forever (DESIGN.md §3); topics say so themselves too.
log.retention.ms=-1
message.max.bytes=52428800
replica.fetch.max.bytes=52428800
PROPERTIES

if [ ! -f "${DATA_DIR}/meta.properties" ]; then
    /opt/kafka/bin/kafka-storage.sh format \
        --config "$CONFIG" \
        --cluster-id "$KAFKA_CLUSTER_ID" \
        --add-scram "SCRAM-SHA-512=[name=admin,password=${KAFKA_ADMIN_PASSWORD}]" \
        --ignore-formatted
fi

exec /opt/kafka/bin/kafka-server-start.sh "$CONFIG"
