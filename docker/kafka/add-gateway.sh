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
: "${EDX_TOPIC_SUBMIT:=edx.submit}"
: "${EDX_TOPIC_INBOX_PREFIX:=edx.inbox.}"
: "${EDX_TOPIC_AGENCIES:=edx.agencies}"
source "${BASH_SOURCE[0]%/*}/admin.sh"

user gateway "$PASSWORD"
acl gateway --operation Write --topic "$EDX_TOPIC_SUBMIT"
acl gateway --operation Read --operation Describe --topic "$EDX_TOPIC_AGENCIES"
acl gateway --operation IdempotentWrite --cluster
for CODE in "$@"; do
    acl gateway --operation Read --operation Describe --topic "${EDX_TOPIC_INBOX_PREFIX}${CODE}"
    echo "the gateway may read ${EDX_TOPIC_INBOX_PREFIX}${CODE}"
done
