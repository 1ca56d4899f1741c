"""Kubernetes API clients for tests: as the environment's admin, or as a ServiceAccount."""

from __future__ import annotations

from kubernetes import client, config

from tests.support.env import LocalEnv


def admin_client(env: LocalEnv) -> client.ApiClient:
    return config.new_client_from_config(config_file=env.kubeconfig)


def token_client(env: LocalEnv, token: str) -> client.ApiClient:
    """A client that authenticates with a bearer token (e.g. a ServiceAccount's, from TokenRequest)."""
    cfg = client.Configuration()
    cfg.host = env.apiserver_url
    cfg.ssl_ca_cert = env.ca_file
    cfg.api_key = {"authorization": token}
    cfg.api_key_prefix = {"authorization": "Bearer"}
    return client.ApiClient(cfg)


def request_token(api: client.ApiClient, namespace: str, service_account: str, seconds: int = 3600) -> str:
    """A token for the ServiceAccount through the TokenRequest API."""
    body = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=seconds))
    resp = client.CoreV1Api(api).create_namespaced_service_account_token(service_account, namespace, body)
    return resp.status.token
