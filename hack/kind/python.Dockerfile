# kto's offline stand-in for python:3.11-slim (hack/kind/images.sh; used where Docker Hub is not reachable):
# Debian bookworm's Python 3.11 with a virtual environment first on PATH, so that `pip install` and the
# programs it installs behave as in the official image (Debian's own python3 refuses pip installs, PEP 668).
ARG BASE_IMAGE=kto-kind/debian:bookworm
FROM ${BASE_IMAGE}
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 python3-venv ca-certificates \
 && apt-get clean && rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/* \
 && python3 -m venv /opt/python
ENV PATH=/opt/python/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8
CMD ["python3"]
