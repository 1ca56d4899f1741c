# kto's offline stand-in for the apache/kafka image (hack/kind/images.sh; used where Docker Hub is not reachable):
# Debian's JRE, the broker jars hack/build-tools.sh fetches from Maven Central, and the three bin/ scripts
# manifests/kafka-kind.yaml runs, at the paths the official image has them.
ARG BASE_IMAGE=kto-kind/debian:bookworm
FROM ${BASE_IMAGE}
RUN mkdir -p /usr/share/man/man1 \
 && apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless \
 && apt-get clean && rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/* \
 && useradd --system --uid 1000 --home-dir /home/appuser --create-home appuser
COPY libs/ /opt/kafka/libs/
COPY kafka-run-class.sh /opt/kafka/bin/kafka-run-class.sh
RUN mkdir -p /opt/kafka/config \
 && printf '%s\n' 'status=warn' 'appender.console.type=Console' 'appender.console.name=STDOUT' \
      'appender.console.layout.type=PatternLayout' 'appender.console.layout.pattern=[%d] %p %m (%c)%n' \
      'rootLogger.level=info' 'rootLogger.appenderRef.stdout.ref=STDOUT' \
      'logger.statechange.name=state.change.logger' 'logger.statechange.level=warn' > /opt/kafka/config/log4j2.properties \
 && printf '#!/bin/sh\nexec /opt/kafka/bin/kafka-run-class.sh kafka.Kafka "$@"\n' > /opt/kafka/bin/kafka-server-start.sh \
 && printf '#!/bin/sh\nexec /opt/kafka/bin/kafka-run-class.sh kafka.tools.StorageTool "$@"\n' > /opt/kafka/bin/kafka-storage.sh \
 && printf '#!/bin/sh\nexec /opt/kafka/bin/kafka-run-class.sh kafka.admin.ConfigCommand "$@"\n' > /opt/kafka/bin/kafka-configs.sh \
 && chmod 0755 /opt/kafka/bin/*
USER 1000
WORKDIR /opt/kafka
