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
: "${EDX_TOPIC_SUBMIT:=edx.submit}"
: "${EDX_TOPIC_INBOX_PREFIX:=edx.inbox.}"
: "${EDX_TOPIC_AGENCIES:=edx.agencies}"
source "${BASH_SOURCE[0]%/*}/admin.sh"

user "$CODE" "$PASSWORD"
acl "$CODE" --operation Write --topic "$EDX_TOPIC_SUBMIT"
acl "$CODE" --operation Read --topic "${EDX_TOPIC_INBOX_PREFIX}${CODE}"
acl "$CODE" --operation Read --group "edx-agency-${CODE}" --resource-pattern-type prefixed
acl "$CODE" --operation Read --topic "$EDX_TOPIC_AGENCIES"
acl "$CODE" --operation IdempotentWrite --cluster

echo "agency ${CODE} may write ${EDX_TOPIC_SUBMIT} and read ${EDX_TOPIC_INBOX_PREFIX}${CODE}"
