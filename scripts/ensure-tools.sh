#!/usr/bin/env bash
# Installs the outside tools the tests check our output with: xmlsec1 verifies our
# XML signatures, kcat reads our Kafka topics, openssl checks timestamp tokens and
# certificate chains, and Go with golang.org/x/mod (sumdb/tlog, sumdb/note) checks our
# transparency-log proofs and signed checkpoints, and a JDK compiles the Java client that
# calls the gateway's HTTP API. All come from Debian's packages.
set -euo pipefail
missing=()
command -v xmlsec1 >/dev/null 2>&1 || missing+=(xmlsec1)
command -v kcat >/dev/null 2>&1 || missing+=(kcat)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v go >/dev/null 2>&1 || missing+=(golang-go)
[ -d /usr/share/gocode/src/golang.org/x/mod/sumdb/tlog ] || missing+=(golang-golang-x-mod-dev)
command -v javac >/dev/null 2>&1 || missing+=(openjdk-17-jdk-headless)
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing ${missing[*]} from the system's package manager"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
if command -v apt-get >/dev/null 2>&1; then
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "error: please install ${missing[*]} with your package manager" >&2
  exit 1
fi
