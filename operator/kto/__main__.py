"""``kto run`` (also ``python -m kto run``): start the operator."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from kto import __version__


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="kto", description="kto: Kafka topics as Kubernetes resources")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("version", help="print the version")
    run = sub.add_parser("run", help="run the operator")
    run.add_argument("-n", "--namespace", action="append", default=[],
                     help="watch only this namespace (repeatable; default: all namespaces); also $KTO_NAMESPACES "
                          "(comma-separated)")
    run.add_argument("--health-address", default=os.environ.get("KTO_HEALTH_ADDRESS", "0.0.0.0"))
    run.add_argument("--health-port", type=int, default=int(os.environ.get("KTO_HEALTH_PORT", "8080")),
                     help="serves GET /healthz (0: off)")
    run.add_argument("--metrics-port", type=int, default=int(os.environ.get("KTO_METRICS_PORT", "8081")),
                     help="serves Prometheus metrics on /metrics (0: off)")
    run.add_argument("--batch-window", type=float, default=float(os.environ.get("KTO_BATCH_WINDOW", "0.1")),
                     help="seconds to gather topic changes into one batch")
    run.add_argument("--max-batch", type=int, default=int(os.environ.get("KTO_MAX_BATCH", "10000")),
                     help="most topics in one batch (one resync of up to this many topics costs 3 Kafka requests)")
    run.add_argument("--sweep-interval", type=float, default=float(os.environ.get("KTO_SWEEP_INTERVAL", "60")),
                     help="seconds between the checks that forget objects deleted while a watch was down")
    run.add_argument("--log-format", choices=["plain", "json"], default=os.environ.get("KTO_LOG_FORMAT", "plain"))
    run.add_argument("-v", "--verbose", action="store_true", default=os.environ.get("KTO_VERBOSE") == "true")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> int:
    import kopf
    from prometheus_client import start_http_server

    import kto.handlers  # noqa: F401 - registers the handlers

    namespaces = list(args.namespace) or [n for n in os.environ.get("KTO_NAMESPACES", "").split(",") if n]
    kopf.configure(verbose=args.verbose,
                   log_format=kopf.LogFormat.JSON if args.log_format == "json" else kopf.LogFormat.PLAIN)
    logging.getLogger("kto.librdkafka").setLevel(logging.WARNING)
    if not args.verbose:
        # kopf reports every handled watch event at INFO; kto logs what it does itself.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    if args.metrics_port:
        start_http_server(args.metrics_port, addr=args.health_address)
    memo = kopf.Memo(controller_options={"batch_window": args.batch_window, "max_batch": args.max_batch,
                                         "sweep_seconds": args.sweep_interval, "namespaces": namespaces})
    liveness = f"http://{args.health_address}:{args.health_port}/healthz" if args.health_port else None
    logging.getLogger("kto").info("Starting kto %s namespaces=%s", __version__, ",".join(namespaces) or "*")
    asyncio.run(kopf.operator(
        standalone=True,
        clusterwide=not namespaces,
        namespaces=namespaces,
        liveness_endpoint=liveness,
        memo=memo,
    ))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "version":
        print(f"kto {__version__}")
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
