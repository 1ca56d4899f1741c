"""Build a Kafka client configuration from a KafkaCluster spec and the contents of its Secrets (pure).

The configuration holds credentials: it is never logged, and only its fingerprint is kept to notice
when the spec or a Secret changed and the client must be replaced.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from kto.api import names
from kto.api.domain import SecretContents
from kto.api.models import KafkaClusterSpec, SaslSpec, TlsSpec
from kto.api.reasons import Reason

# Reads a Secret by name, or returns None when the Secret does not exist.
SecretReader = Callable[[str], SecretContents | None]


@dataclass(frozen=True)
class ConnectionError_(Exception):
    reason: Reason
    message: str

    def __str__(self) -> str:
        return self.message


def _secret_value(read: SecretReader, name: str, key: str, what: str) -> str:
    """One value of a Secret marked for kto. Messages name the Secret and the key asked for, never the keys the
    Secret holds (its owner may not want them known)."""
    secret = read(name)
    if secret is None:
        raise ConnectionError_(Reason.SECRET_NOT_FOUND,
                               f"Secret {name} ({what}) does not exist in the KafkaCluster's namespace: create it")
    if not secret.marked:
        raise ConnectionError_(Reason.SECRET_NOT_MARKED, not_marked_message(name, what))
    if key not in secret.data:
        raise ConnectionError_(Reason.SECRET_NOT_FOUND, f"Secret {name} has no key {key!r} ({what}): add it, or "
                               "name the key that holds it in the KafkaCluster's spec")
    try:
        return secret.data[key].decode()
    except UnicodeDecodeError as err:
        raise ConnectionError_(Reason.INVALID_SPEC, f"Secret {name} key {key!r} ({what}) is not UTF-8 text") from err


def not_marked_message(name: str, what: str) -> str:
    return (f"Secret {name} ({what}) is not marked for kto, which reads only Secrets labelled "
            f"{names.LABEL_CREDENTIALS}=true: if it is meant for kto, run kubectl label secret {name} "
            f"{names.LABEL_CREDENTIALS}=true (in its namespace)")


def build_client_config(spec: KafkaClusterSpec, read_secret: SecretReader) -> dict[str, str]:
    """librdkafka properties for the cluster; certificates are passed in memory (no files)."""
    conf = {"bootstrap.servers": ",".join(spec.bootstrapServers), "security.protocol": spec.protocol}
    sec = spec.security
    if sec and sec.sasl:
        refuse_cleartext_password(spec.protocol, sec.sasl)
        conf |= _sasl_config(sec.sasl, read_secret)
    if spec.protocol in ("SSL", "SASL_SSL"):
        conf |= _tls_config(sec.tls if sec else None, read_secret)
    return conf


def _sasl_config(sasl: SaslSpec, read_secret: SecretReader) -> dict[str, str]:
    ref = sasl.secretRef
    return {"sasl.mechanism": sasl.mechanism,
            "sasl.username": _secret_value(read_secret, ref.name, ref.usernameKey or "username", "SASL username"),
            "sasl.password": _secret_value(read_secret, ref.name, ref.passwordKey or "password", "SASL password")}


def _tls_config(tls: TlsSpec | None, read_secret: SecretReader) -> dict[str, str]:
    conf: dict[str, str] = {}
    if tls and tls.caSecretRef:
        conf["ssl.ca.pem"] = _secret_value(read_secret, tls.caSecretRef.name, tls.caSecretRef.key or "ca.crt",
                                           "CA certificate")
    if tls and tls.certSecretRef:
        cert = tls.certSecretRef
        conf["ssl.certificate.pem"] = _secret_value(read_secret, cert.name, cert.certKey or "tls.crt",
                                                    "client certificate")
        conf["ssl.key.pem"] = _secret_value(read_secret, cert.name, cert.keyKey or "tls.key", "client key")
    verify = tls.verifyHostname if tls and tls.verifyHostname is not None else True
    conf["ssl.endpoint.identification.algorithm"] = "https" if verify else "none"
    return conf


def refuse_cleartext_password(protocol: str, sasl: SaslSpec) -> None:
    """PLAIN over SASL_PLAINTEXT sends kto's password unencrypted to whatever answers at the bootstrap address:
    only when the KafkaCluster says so (a test cluster on a trusted network)."""
    if sasl.mechanism == "PLAIN" and protocol == "SASL_PLAINTEXT" and not sasl.allowCleartextPassword:
        raise ConnectionError_(Reason.INSECURE_CONNECTION,
                               "mechanism PLAIN over protocol SASL_PLAINTEXT would send kto's password unencrypted: "
                               "use SASL_SSL or a SCRAM mechanism, or set security.sasl.allowCleartextPassword: true "
                               "for a cluster on a trusted network")


def fingerprint(conf: Mapping[str, str]) -> str:
    return hashlib.sha256(json.dumps(dict(conf), sort_keys=True).encode()).hexdigest()


def referenced_secrets(spec: KafkaClusterSpec) -> set[str]:
    sec = spec.security
    names = set()
    if sec and sec.sasl:
        names.add(sec.sasl.secretRef.name)
    if sec and sec.tls:
        if sec.tls.caSecretRef:
            names.add(sec.tls.caSecretRef.name)
        if sec.tls.certSecretRef:
            names.add(sec.tls.certSecretRef.name)
    return names
