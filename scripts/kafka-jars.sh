#!/usr/bin/env bash
# Collects the Apache Kafka broker + tools jars from Maven Central into .accord/kafka/libs, once.
# ACCORD_KAFKA_LIBS puts them elsewhere; ACCORD_MAVEN_FLAGS adds Maven flags (e.g. "-s settings.xml" for a mirror).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ACCORD_ROOT"
libs="${ACCORD_KAFKA_LIBS:-$ACCORD_ROOT/.accord/kafka/libs}"
stamp="$libs/.complete-$(sha1sum infra/kafka/pom.xml | cut -c1-12)"
if [ -f "$stamp" ]; then exit 0; fi
command -v mvn >/dev/null || { echo "[kafka-jars] error: Maven (mvn) is not installed: apt-get install -y maven" >&2; exit 1; }
echo "[kafka-jars] downloading Apache Kafka jars from Maven Central (once)"
rm -rf "$libs"; mkdir -p "$libs"
log="$libs/../mvn.log"
# shellcheck disable=SC2086 # ACCORD_MAVEN_FLAGS is a list of flags
if ! mvn -B -q ${ACCORD_MAVEN_FLAGS:-} -f infra/kafka/pom.xml dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$libs" > "$log" 2>&1; then
  grep -E "ERROR" "$log" | head -5 >&2 || true
  echo "[kafka-jars] error: Maven could not download the Kafka jars (log: $log)" >&2
  exit 1
fi
touch "$stamp"
echo "[kafka-jars] $(ls "$libs" | wc -l) jars in $libs"
