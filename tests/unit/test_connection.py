from __future__ import annotations

import pytest
from kto.api.domain import SecretContents
from kto.api.models import KafkaClusterSpec
from kto.api.reasons import Reason
from kto.kafka.connection import ConnectionError_, build_client_config, fingerprint, referenced_secrets


def spec(**security) -> KafkaClusterSpec:
    return KafkaClusterSpec.model_validate({"bootstrapServers": ["a:9092", "b:9092"], "security": security})


def marked(**data: bytes) -> SecretContents:
    return SecretContents(data, marked=True)


SECRETS = {
    "admin": marked(username=b"kto", password=b"s3cret", user=b"other"),
    "ca": marked(**{"ca.crt": b"-----BEGIN CERTIFICATE-----"}),
    "client": marked(**{"tls.crt": b"CERT", "tls.key": b"KEY"}),
    "someone-elses": SecretContents({"username": b"root", "password": b"hunter2"}, marked=False),
}


def test_plaintext_by_default() -> None:
    conf = build_client_config(KafkaClusterSpec.model_validate({"bootstrapServers": ["a:9092"]}), SECRETS.get)
    assert conf == {"bootstrap.servers": "a:9092", "security.protocol": "PLAINTEXT"}


def test_sasl_ssl_with_ca_and_client_cert() -> None:
    s = spec(protocol="SASL_SSL", sasl={"mechanism": "SCRAM-SHA-512", "secretRef": {"name": "admin"}},
             tls={"caSecretRef": {"name": "ca"}, "certSecretRef": {"name": "client"}})
    conf = build_client_config(s, SECRETS.get)
    assert conf == {
        "bootstrap.servers": "a:9092,b:9092", "security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "kto", "sasl.password": "s3cret", "ssl.ca.pem": "-----BEGIN CERTIFICATE-----",
        "ssl.certificate.pem": "CERT", "ssl.key.pem": "KEY", "ssl.endpoint.identification.algorithm": "https",
    }
    assert referenced_secrets(s) == {"admin", "ca", "client"}


def test_key_overrides_and_hostname_verification_off() -> None:
    s = spec(protocol="SSL", tls={"verifyHostname": False})
    assert build_client_config(s, SECRETS.get)["ssl.endpoint.identification.algorithm"] == "none"
    s = spec(protocol="SASL_PLAINTEXT", sasl={"mechanism": "PLAIN", "allowCleartextPassword": True,
                                              "secretRef": {"name": "admin", "usernameKey": "user"}})
    assert build_client_config(s, SECRETS.get)["sasl.username"] == "other"


@pytest.mark.parametrize(("secret_ref", "text"), [
    ({"name": "missing"}, "Secret missing (SASL username) does not exist"),
    ({"name": "ca"}, "Secret ca has no key 'username' (SASL username): add it"),
])
def test_missing_secrets_say_what_to_do(secret_ref, text) -> None:
    s = spec(protocol="SASL_PLAINTEXT", sasl={"mechanism": "SCRAM-SHA-512", "secretRef": secret_ref})
    with pytest.raises(ConnectionError_) as err:
        build_client_config(s, SECRETS.get)
    assert err.value.reason == Reason.SECRET_NOT_FOUND
    assert text in err.value.message
    assert "s3cret" not in err.value.message
    assert "ca.crt" not in err.value.message  # the keys a Secret holds are never listed


def test_a_secret_not_marked_for_kto_is_not_read() -> None:
    s = spec(protocol="SASL_PLAINTEXT", sasl={"mechanism": "SCRAM-SHA-512", "secretRef": {"name": "someone-elses"}})
    with pytest.raises(ConnectionError_) as err:
        build_client_config(s, SECRETS.get)
    assert err.value.reason == Reason.SECRET_NOT_MARKED
    assert "kubectl label secret someone-elses kto.dev/credentials=true" in err.value.message
    assert "root" not in err.value.message and "hunter2" not in err.value.message


@pytest.mark.parametrize(("protocol", "mechanism", "allowed", "refused"), [
    ("SASL_PLAINTEXT", "PLAIN", None, True),
    ("SASL_PLAINTEXT", "PLAIN", False, True),
    ("SASL_PLAINTEXT", "PLAIN", True, False),
    ("SASL_PLAINTEXT", "SCRAM-SHA-512", None, False),  # SCRAM never sends the password
    ("SASL_SSL", "PLAIN", None, False),  # encrypted
])
def test_a_cleartext_password_needs_the_opt_in(protocol, mechanism, allowed, refused) -> None:
    sasl = {"mechanism": mechanism, "secretRef": {"name": "admin"}}
    if allowed is not None:
        sasl["allowCleartextPassword"] = allowed
    s = spec(protocol=protocol, sasl=sasl)
    if not refused:
        assert build_client_config(s, SECRETS.get)["sasl.password"] == "s3cret"
        return
    with pytest.raises(ConnectionError_) as err:
        build_client_config(s, SECRETS.get)
    assert err.value.reason == Reason.INSECURE_CONNECTION
    assert "allowCleartextPassword" in err.value.message and "s3cret" not in err.value.message


def test_fingerprint_changes_with_credentials() -> None:
    s = spec(protocol="SASL_PLAINTEXT", sasl={"mechanism": "SCRAM-SHA-256", "secretRef": {"name": "admin"}})
    a = fingerprint(build_client_config(s, SECRETS.get))
    rotated = {**SECRETS, "admin": marked(username=b"kto", password=b"new")}
    assert a != fingerprint(build_client_config(s, rotated.get))
    assert a == fingerprint(build_client_config(s, SECRETS.get))
