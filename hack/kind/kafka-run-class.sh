#!/usr/bin/env bash
# The part of apache/kafka's bin/*.sh that kto's offline Kafka image needs (hack/kind/kafka.Dockerfile): run a
# Kafka main class from the Maven Central jars in /opt/kafka/libs, logging to stdout.
# Usage (from the bin/ scripts): exec kafka-run-class.sh CLASS ARGS...
set -euo pipefail
main=$1; shift
exec java ${KAFKA_HEAP_OPTS:--Xmx256m} -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
  -Dlog4j2.configurationFile=/opt/kafka/config/log4j2.properties ${KAFKA_OPTS:-} \
  -cp '/opt/kafka/libs/*' "$main" "$@"
