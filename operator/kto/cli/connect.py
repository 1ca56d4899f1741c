"""How the command-line verbs (``kto import``, ``kto plan``, ``kto check``) reach Kubernetes and Kafka.

A Kafka connection is built the way the operator builds it (``kto.connection.build_client_config``), from a
KafkaCluster and its Secrets read through the kubeconfig, or from flags: the flags are turned into a
KafkaClusterSpec and an in-memory Secret, so both ways go through the same code and give the same errors.
Passwords come from a file or an environment variable, never from the command line, and are never printed.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from pydantic import ValidationError

from kto.api import names
from kto.api.domain import SecretContents
from kto.api.models import KafkaClusterSpec
from kto.api.objects import Key, validation_message
from kto.kafka.connection import ConnectionError_, build_client_config, referenced_secrets

if TYPE_CHECKING:  # imported when used: `kto completion` and `--help` load neither client
    from kto.kafka.gateway import KafkaGateway
    from kto.kube.client import KubeClient

PASSWORD_ENV = "KTO_KAFKA_PASSWORD"
DIRECT_SECRET = "command-line"  # the name of the in-memory Secret the flags fill


class CliError(Exception):
    """What went wrong, said for the person at the terminal (exit code 1)."""


@dataclass(frozen=True)
class Target:
    """A Kafka cluster to talk to: its client configuration and, when reached through one, the KafkaCluster."""

    conf: dict[str, str]
    label: str  # ns/name of the KafkaCluster, or the bootstrap servers
    spec: KafkaClusterSpec
    cluster: Key | None = None
    body: dict[str, Any] | None = None  # the KafkaCluster object


def add_kube_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kubeconfig", default=None, help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    parser.add_argument("--context", default=None, help="kubeconfig context (default: the current one)")


class RefusePassword(argparse.Action):
    """``--password`` exists only to refuse a password on the command line (shell history, ps) without echoing
    it, as argparse's "unrecognized arguments" would."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> NoReturn:
        parser.error(f"kto never takes a password on the command line: use --password-file FILE or ${PASSWORD_ENV}")


def add_kafka_args(parser: argparse.ArgumentParser) -> None:
    """--cluster NS/NAME, or the direct connection flags."""
    group = parser.add_argument_group("Kafka connection: through a KafkaCluster, or direct")
    group.add_argument("--cluster", metavar="NS/NAME", help="connect as kto does for this KafkaCluster (its spec and "
                       "Secrets, read through the kubeconfig)")
    group.add_argument("--bootstrap", metavar="HOST:PORT[,HOST:PORT]", help="connect directly to these brokers")
    group.add_argument("--security-protocol", choices=["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"],
                       default="PLAINTEXT")
    group.add_argument("--sasl-mechanism", choices=["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"], default=None)
    group.add_argument("--username", default=None)
    group.add_argument("--password-file", default=None,
                       help=f"file holding the password (else ${PASSWORD_ENV}); never given on the command line")
    group.add_argument("--password", nargs="?", action=RefusePassword, help=argparse.SUPPRESS)
    group.add_argument("--ca-file", default=None, help="PEM file of the CA that signed the brokers' certificates")
    group.add_argument("--no-verify-hostname", action="store_true", help="do not check the brokers' hostnames")
    group.add_argument("--allow-cleartext-password", action="store_true",
                       help="allow PLAIN over SASL_PLAINTEXT (the password crosses the network unencrypted)")
    add_kube_args(parser)


def parse_key(value: str, default_namespace: str | None = None) -> Key:
    """``NS/NAME`` (or ``NAME`` with a default namespace)."""
    ns, _, name = value.rpartition("/")
    ns = ns or default_namespace or ""
    if not ns or not name:
        raise CliError(f"--cluster {value!r}: write it as NAMESPACE/NAME, e.g. --cluster kafka/main")
    return ns, name


def kube_client(args: argparse.Namespace) -> KubeClient:
    """A KubeClient from the kubeconfig (or, in a Pod, the ServiceAccount)."""
    from kubernetes.config.config_exception import ConfigException

    from kto.kube.client import KubeClient, api_client

    try:
        return KubeClient(api_client(args.kubeconfig, args.context, pool_size=4), concurrency=4)
    except (ConfigException, OSError) as err:
        raise CliError(f"cannot load the kubeconfig: {err} (set --kubeconfig or $KUBECONFIG)") from err


def default_namespace(args: argparse.Namespace) -> str:
    """The kubeconfig context's namespace, else ``default``."""
    from kubernetes import config

    try:
        # The kubernetes client ships no annotations for its kubeconfig helpers (an untyped library).
        contexts, current = config.list_kube_config_contexts(config_file=args.kubeconfig)  # type: ignore[no-untyped-call]
        context = next((c for c in contexts if c["name"] == args.context), None) if args.context else current
        return (context or {}).get("context", {}).get("namespace") or "default"
    except Exception:  # noqa: BLE001 - no kubeconfig: the default namespace
        return "default"


async def read_cluster(kube: KubeClient, key: Key) -> tuple[KafkaClusterSpec, dict[str, Any]]:
    """A KafkaCluster's parsed spec and object; CliError when it is missing or invalid."""
    body = await kube.get_object(names.CLUSTER_PLURAL, *key)
    if body is None:
        raise CliError(f"KafkaCluster {key[0]}/{key[1]} does not exist (kubectl get kafkaclusters -n {key[0]})")
    try:
        return KafkaClusterSpec.model_validate(body.get("spec") or {}), body
    except ValidationError as err:
        raise CliError(f"KafkaCluster {key[0]}/{key[1]} has an invalid spec: {validation_message(err)}") from err


async def cluster_target(kube: KubeClient, key: Key) -> Target:
    """Connect as kto does for a KafkaCluster: its spec and the Secrets it references, marked for kto."""
    spec, body = await read_cluster(kube, key)
    secrets = {n: await kube.read_secret(key[0], n) for n in referenced_secrets(spec)}
    try:
        conf = build_client_config(spec, secrets.get)
    except ConnectionError_ as err:
        raise CliError(f"KafkaCluster {key[0]}/{key[1]}: {err.message}") from err
    return Target(conf, f"{key[0]}/{key[1]}", spec, key, body)


def read_password(args: argparse.Namespace) -> str | None:
    if args.password_file:
        try:
            with open(args.password_file, encoding="utf-8") as f:
                return f.read().rstrip("\r\n")
        except OSError as err:
            raise CliError(f"cannot read --password-file {args.password_file}: {err.strerror}") from err
    return os.environ.get(PASSWORD_ENV)


def direct_spec(args: argparse.Namespace) -> tuple[KafkaClusterSpec, dict[str, bytes]]:
    """The flags as a KafkaClusterSpec and the contents of the in-memory Secret it references."""
    protocol = args.security_protocol
    security: dict[str, Any] = {"protocol": protocol}
    data: dict[str, bytes] = {}
    if protocol.startswith("SASL"):
        password = read_password(args)
        if not args.username or password is None:
            raise CliError(f"--security-protocol {protocol} needs --username and a password (--password-file, or "
                           f"${PASSWORD_ENV})")
        security["sasl"] = {"mechanism": args.sasl_mechanism or "SCRAM-SHA-512",
                            "secretRef": {"name": DIRECT_SECRET},
                            "allowCleartextPassword": args.allow_cleartext_password or None}
        data |= {"username": args.username.encode(), "password": password.encode()}
    if protocol in ("SSL", "SASL_SSL"):
        tls: dict[str, Any] = {"verifyHostname": not args.no_verify_hostname}
        if args.ca_file:
            try:
                with open(args.ca_file, "rb") as f:
                    data["ca.crt"] = f.read()
            except OSError as err:
                raise CliError(f"cannot read --ca-file {args.ca_file}: {err.strerror}") from err
            tls["caSecretRef"] = {"name": DIRECT_SECRET}
        security["tls"] = tls
    try:
        spec = KafkaClusterSpec.model_validate({"bootstrapServers": args.bootstrap.split(","), "security": security})
    except ValidationError as err:
        raise CliError(f"invalid connection flags: {validation_message(err)}") from err
    return spec, data


def direct_target(args: argparse.Namespace) -> Target:
    spec, data = direct_spec(args)
    secret = SecretContents(data, marked=True)
    try:
        conf = build_client_config(spec, lambda name: secret if name == DIRECT_SECRET else None)
    except ConnectionError_ as err:
        raise CliError(err.message.replace("security.sasl.allowCleartextPassword: true",
                                           "--allow-cleartext-password")) from err
    return Target(conf, args.bootstrap, spec)


async def target_of(args: argparse.Namespace,
                    kube_factory: Callable[[argparse.Namespace], KubeClient] = kube_client) -> Target:
    """The Kafka cluster the flags name: ``--cluster`` or ``--bootstrap`` (exactly one)."""
    if bool(args.cluster) == bool(args.bootstrap):
        which = "both were given: keep one" if args.cluster else "neither was given"
        raise CliError("name the Kafka cluster with --cluster NAMESPACE/NAME (a KafkaCluster) or with --bootstrap "
                       f"HOST:PORT (direct), one of them ({which})")
    if args.bootstrap:
        return direct_target(args)
    kube = kube_factory(args)
    try:
        return await cluster_target(kube, parse_key(args.cluster))
    finally:
        kube.close()


def gateway_of(target: Target, request_timeout: float = 15.0) -> KafkaGateway:
    from kto.kafka.gateway import KafkaGateway

    try:
        return KafkaGateway(target.conf, target.label, request_timeout=request_timeout)
    except Exception as err:  # e.g. a CA that is not PEM
        raise CliError(f"cannot build a Kafka client for {target.label}: {err} (check the certificates and keys)") \
            from err
