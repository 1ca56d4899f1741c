"""kto: a Kubernetes operator that manages Apache Kafka topics as custom resources."""

__version__ = "0.1.0"
