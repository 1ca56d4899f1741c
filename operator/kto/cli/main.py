"""The command-line verbs besides ``kto run``: ``import``, ``plan``, ``check`` and ``completion``.

Their arguments, and one place that turns what went wrong into a message and an exit code (1). Messages name
what is wrong and what to do; no credential is ever part of one (passwords are read from files or the
environment, and Kafka's and the apiserver's errors carry none).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import TypeVar

from kto.cli.connect import CliError, add_kafka_args, add_kube_args

COMMANDS = ("import", "plan", "check", "completion")
P = TypeVar("P", bound=argparse.ArgumentParser)  # `kto`'s own parser class: usage errors exit 1


def add_parsers(sub: argparse._SubParsersAction[P]) -> None:
    imp = sub.add_parser("import", help="write KafkaTopic (and KafkaUser) manifests for what a Kafka cluster has",
                         description="Write one KafkaTopic per topic (partitions, replication factor, dynamic "
                                     "overrides: exactly what kto adopts without a write) and a kustomization.yaml.")
    add_kafka_args(imp)
    imp.add_argument("--dir", default="imported", metavar="DIR", help="folder to write (default: imported)")
    imp.add_argument("-n", "--namespace", help="namespace of the manifests (default: the KafkaCluster's)")
    imp.add_argument("--cluster-ref", metavar="[NS/]NAME",
                     help="the KafkaCluster the manifests reference (default: --cluster)")
    imp.add_argument("--include", action="append", default=[], metavar="GLOB",
                     help="import only topics matching (repeatable; e.g. 'orders.*')")
    imp.add_argument("--exclude", action="append", default=[], metavar="GLOB", help="leave out topics matching")
    imp.add_argument("--users", action="store_true", help="also KafkaUsers for the SCRAM users and their ACLs")
    imp.add_argument("--force", action="store_true", help="replace files that exist in the output folder")

    plan = sub.add_parser("plan", help="show what applying manifests would change in Kafka (exit 0: nothing, 1: "
                                       "error, usage errors included, 2: changes, 3: refusals or conflicts)")
    plan.add_argument("-f", "--filename", action="append", required=True, metavar="PATH",
                      help="a file, a folder, a kustomize folder (its resources:), or - for stdin (repeatable)")
    plan.add_argument("-n", "--namespace", help="namespace of manifests that set none (default: the kubeconfig's)")
    plan.add_argument("-o", "--output", choices=["text", "json"], default="text")
    plan.add_argument("--prune", action="store_true",
                      help="also list the KafkaTopics and KafkaUsers the folder owns but no longer holds (what "
                           "applying with prune deletes) and what deleting each does in Kafka")
    plan.add_argument("-l", "--selector", metavar="SELECTOR",
                      help="with --prune: the label selector of what the folder owns (default: the Argo CD "
                           "Application tracking the folder's objects)")
    add_kube_args(plan)

    check = sub.add_parser("check", help="check that kto can connect to, and act on, a Kafka cluster")
    add_kafka_args(check)
    check.add_argument("--users", action="store_true",
                       help="require ACLs and SCRAM to work (default: when KafkaUsers use the --cluster)")
    check.add_argument("--timeout", type=float, default=15.0, help="seconds per Kafka request (default: 15)")
    check.add_argument("-o", "--output", choices=["text", "json"], default="text")
    check.add_argument("--read-only", action="store_true",
                       help="only read: connect, authenticate, describe the cluster, its topics and ACLs; no "
                            "scratch topic or user is written")

    completion = sub.add_parser("completion", help="print a shell completion script: "
                                                   "source <(kto completion bash)")
    completion.add_argument("shell", choices=["bash", "zsh", "fish"])


def main(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    quiet()
    try:
        return asyncio.run(dispatch(args, parser))
    except CliError as err:
        print(f"kto {args.command}: error: {err}", file=sys.stderr)
        return 1
    except Exception as err:  # noqa: BLE001 - the apiserver's and the network's errors, said briefly
        print(f"kto {args.command}: error: {describe_error(err)}", file=sys.stderr)
        return 1


def quiet() -> None:
    """Kafka client logs are not for the terminal: failures come back classified, with kto's messages."""
    logging.basicConfig(level=logging.ERROR, format="%(message)s")
    logging.getLogger("kto.librdkafka").setLevel(logging.CRITICAL)
    logging.getLogger("kafka").setLevel(logging.CRITICAL)


def describe_error(err: Exception) -> str:
    """One line a person can act on: never a traceback, never a library's repr of a retry."""
    import urllib3
    from kubernetes.client.exceptions import ApiException

    if isinstance(err, ApiException):
        return (f"the Kubernetes API answered {err.status} {err.reason}: check the kubeconfig's context and that "
                "it may read KafkaTopics, KafkaClusters and the clusters' Secrets")
    if isinstance(err, urllib3.exceptions.MaxRetryError | urllib3.exceptions.HTTPError | ConnectionError):
        return f"cannot reach the Kubernetes API server{api_server_of(err)}: {root_cause(err)}; check the " \
               "kubeconfig's server (kubectl cluster-info) and the network"
    return f"{type(err).__name__}: {err}"


def api_server_of(err: Exception) -> str:
    pool = getattr(err, "pool", None)
    return f" at {pool.scheme}://{pool.host}:{pool.port}" if pool is not None else ""


def root_cause(err: BaseException) -> str:
    """The innermost reason of a connection failure, e.g. "Connection refused"."""
    reason = getattr(err, "reason", None) or err.__cause__ or err
    text = str(reason)
    if "] " in text:  # "[Errno 111] Connection refused", inside urllib3's wording
        text = text.rsplit("] ", 1)[1].rstrip("')\"")
    return text


async def dispatch(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.command == "completion":
        from kto.cli.completion import script

        sys.stdout.write(script(parser, args.shell))
        return 0
    if args.command == "import":
        from kto.cli.import_run import run_import

        return await run_import(args)
    if args.command == "check":
        from kto.cli.check import format_json, format_lines, run_check

        lines, code = await run_check(args)
        sys.stdout.write(format_json(lines) if args.output == "json" else format_lines(lines))
        return code
    from kto.cli.plan_gather import run_plan

    if args.selector and not args.prune:
        raise CliError("-l/--selector says what --prune removes: add --prune")
    result = await run_plan(args)
    sys.stdout.write(result.json() if args.output == "json" else result.text())
    return result.exit_code()
