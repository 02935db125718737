#!/bin/bash
# Makes a private CA and one TLS certificate per broker for the EXTERNAL (SASL_SSL)
# listeners, in the PEM layout the brokers read (key + certificate + CA in one file).
# Agencies get ca.pem to verify the brokers (EDX_SSL_CAFILE).
#
#   docker/tls/make-certs.sh edx-bus.example.gov.vn     # writes docker/tls/*.pem
#
# Use certificates from your own CA in production when you have one: put them in
# the same files.
set -euo pipefail
HOST=${1:?usage: make-certs.sh EXTERNAL_HOST_NAME}
cd "$(dirname "$0")"
umask 077
if [ ! -f ca-key.pem ]; then
    openssl req -x509 -newkey rsa:3072 -nodes -days 3650 -keyout ca-key.pem -out ca.pem \
        -subj "/CN=edxbus broker CA"
fi
for node in 1 2 3; do
    openssl req -newkey rsa:3072 -nodes -keyout "kafka-$node-key.pem" -out "kafka-$node.csr" \
        -subj "/CN=$HOST"
    openssl x509 -req -in "kafka-$node.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial \
        -days 825 -out "kafka-$node-cert.pem" \
        -extfile <(printf "subjectAltName=DNS:%s,DNS:kafka-%s\nextendedKeyUsage=serverAuth" "$HOST" "$node")
    openssl pkcs8 -topk8 -nocrypt -in "kafka-$node-key.pem" -out "kafka-$node.pem"
    cat "kafka-$node-cert.pem" ca.pem >>"kafka-$node.pem"
    rm -f "kafka-$node.csr" "kafka-$node-key.pem" "kafka-$node-cert.pem"
done
chmod 0644 ca.pem kafka-*.pem   # the broker runs as an unprivileged user in its container
echo "wrote $(pwd)/ca.pem and kafka-{1,2,3}.pem for $HOST"
