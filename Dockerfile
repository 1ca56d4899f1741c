# kto's container image: `DOCKER_BUILDKIT=1 docker build -t kto:0.1.0 .` (the Helm chart's default image is
# kto:<appVersion>). BuildKit is needed for the RUN --mount below; no `# syntax=` line, so that the builder's own
# Dockerfile frontend is used and no frontend image is fetched.
# Two stages: the first builds kto's wheel and collects the wheels of its dependencies (all published as
# wheels for CPython 3.11 on linux amd64/arm64, confluent-kafka's with librdkafka inside, so nothing is compiled);
# the second installs them from that folder only, without a network, into a slim image with no build tools.

# Any image with Python 3.11, pip and groupadd/useradd on PATH. Where Docker Hub is not reachable,
# `make kind-up` builds a stand-in from Debian's python3 (hack/kind/python.Dockerfile) and passes it here.
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator/ operator/
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
# The fixed non-root user the chart runs as (podSecurityContext.runAsUser / runAsGroup in helm/kto/values.yaml).
ARG KTO_UID=10001
RUN groupadd --system --gid "${KTO_UID}" kto \
 && useradd --system --uid "${KTO_UID}" --gid kto --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin kto
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --root-user-action=ignore --no-index --find-links=/wheels kto \
 && kto version
# The root filesystem is read-only in the chart: no .pyc files are written, logs go straight to stdout.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
USER ${KTO_UID}:${KTO_UID}
# /healthz and Prometheus /metrics (kto run --health-port / --metrics-port).
EXPOSE 8080 8081
LABEL org.opencontainers.image.title="kto" \
      org.opencontainers.image.description="A Kubernetes operator that manages Apache Kafka topics as custom resources" \
      org.opencontainers.image.licenses="Apache-2.0"
ENTRYPOINT ["kto"]
CMD ["run"]
