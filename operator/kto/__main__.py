"""``kto run`` (also ``python -m kto run``): start the operator; ``kto import|plan|check|completion``: the
command-line verbs (``kto.cli``).

``kto run`` parses its flags, serves /healthz, takes the Lease (``kto.ops.leader``) and runs kopf's operator
with the handlers ``kto.handlers`` registers; kopf, the Lease and the metrics server are imported only when
``kto run`` runs, so the command-line verbs start without them."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from typing import TYPE_CHECKING, NoReturn

from kto import __version__
from kto.api import names
from kto.cli import main as cli
from kto.telemetry import logs

if TYPE_CHECKING:
    import kopf

    from kto.ops.leader import LeaderElector, Timing, Unelected

log = logging.getLogger("kto")


class Parser(argparse.ArgumentParser):
    """argparse, with usage errors exiting 1 like every other error: exit 2 means "changes" to ``kto plan``."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(1, f"{self.prog}: error: {message}\n")


def build_parser() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """kto's parser, and the parser of ``kto run``."""
    parser = Parser(prog="kto", description="kto: Kafka topics as Kubernetes resources")
    parser.add_argument("--version", action="version", version=f"kto {__version__}")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("version", help="print the version")
    run = sub.add_parser("run", help="run the operator")
    run.add_argument("-n", "--namespace", action="append", default=[],
                     help="watch only this namespace (repeatable; default: all namespaces); also $KTO_NAMESPACES "
                          "(comma-separated)")
    run.add_argument("--health-address", default=os.environ.get("KTO_HEALTH_ADDRESS", "0.0.0.0"),
                     help="the address /healthz listens on (default: 0.0.0.0; $KTO_HEALTH_ADDRESS)")
    run.add_argument("--health-port", type=int, default=int(os.environ.get("KTO_HEALTH_PORT", "8080")),
                     help="serves GET /healthz (0: off)")
    run.add_argument("--metrics-address", default=os.environ.get("KTO_METRICS_ADDRESS") or None,
                     help="the address /metrics listens on (default: --health-address's; $KTO_METRICS_ADDRESS)")
    run.add_argument("--metrics-port", type=int, default=int(os.environ.get("KTO_METRICS_PORT", "8081")),
                     help="serves Prometheus metrics on /metrics (0: off)")
    run.add_argument("--batch-window", type=float, default=float(os.environ.get("KTO_BATCH_WINDOW", "0.1")),
                     help="seconds to gather topic changes into one batch")
    run.add_argument("--max-batch", type=int, default=int(os.environ.get("KTO_MAX_BATCH", "10000")),
                     help="most topics in one batch (one resync of up to this many topics costs 3 Kafka requests)")
    run.add_argument("--sweep-interval", type=float, default=float(os.environ.get("KTO_SWEEP_INTERVAL", "60")),
                     help="seconds between the checks that forget objects deleted while a watch was down")
    run.add_argument("--lag-interval", type=float, default=float(os.environ.get("KTO_LAG_INTERVAL", "60")),
                     help="seconds between collections of consumer lag and topic size of the managed topics, per "
                          "KafkaCluster, exported as metrics (0: off)")
    run.add_argument("--lag-max-series", type=int, default=int(os.environ.get("KTO_LAG_MAX_SERIES", "1000")),
                     help="most consumer lag series (topic, group) exported per KafkaCluster; the largest lags are "
                          "kept, kto_lag_series_dropped counts the rest (default: 1000; $KTO_LAG_MAX_SERIES)")
    add_log_args(run)
    add_leader_election_args(run)
    cli.add_parsers(sub)
    return parser, run


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser, run = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # bare `kto`: say what it can do
        parser.print_help()
        parser.exit(0)
    if args.command == "run":
        # argparse checks choices on the command line only, not on defaults taken from the environment.
        if args.log_format not in logs.FORMATS:
            run.error(f"$KTO_LOG_FORMAT must be one of {', '.join(logs.FORMATS)}, not {args.log_format!r}")
        if args.log_level not in logs.LEVELS:
            run.error(f"$KTO_LOG_LEVEL must be one of {', '.join(logs.LEVELS)}, not {args.log_level!r}")
    if args.command == "run" and args.lag_max_series < 1:
        run.error(f"--lag-max-series must be at least 1, not {args.lag_max_series}")
    if args.command == "run" and args.metrics_address is None:
        args.metrics_address = args.health_address  # one address for both unless told apart
    if args.command == "run" and args.leader_elect:
        for problem in timing(args).problems():
            run.error(problem)
    return args


def add_log_args(run: argparse.ArgumentParser) -> None:
    env = os.environ.get
    run.add_argument("--log-format", choices=logs.FORMATS, default=env("KTO_LOG_FORMAT", "plain"),
                     help="plain: the message, then key=value fields; json: one object a line, the fields as keys "
                          "(resource, kind, cluster, reason, ...) (default: plain; $KTO_LOG_FORMAT)")
    run.add_argument("--log-level", choices=list(logs.LEVELS), type=str.lower,
                     default=(env("KTO_LOG_LEVEL") or "info").lower(),
                     help="the least severe messages written (default: info; $KTO_LOG_LEVEL)")
    run.add_argument("-v", "--verbose", action="store_true", default=env("KTO_VERBOSE") == "true",
                     help="the same as --log-level debug ($KTO_VERBOSE=true)")


def add_leader_election_args(run: argparse.ArgumentParser) -> None:
    env = os.environ.get
    run.add_argument("--leader-elect", action=argparse.BooleanOptionalAction,
                     default=env("KTO_LEADER_ELECT", "true") != "false",
                     help="hold a coordination.k8s.io Lease before writing anything, so that of several kto "
                          "processes one acts and the others stand by (default: on; $KTO_LEADER_ELECT=false: off)")
    run.add_argument("--state-namespace", default=env("KTO_STATE_NAMESPACE") or None,
                     help="kto's own namespace, where it keeps its ledger of creates in flight (default: the "
                          "leader election namespace, else the Pod's namespace, else default)")
    run.add_argument("--leader-election-namespace", default=env("KTO_LEADER_ELECTION_NAMESPACE") or None,
                     help="namespace of the Lease (default: the Pod's namespace, else default)")
    run.add_argument("--leader-election-name", default=env("KTO_LEADER_ELECTION_NAME", names.LEASE_NAME),
                     help="name of the Lease")
    run.add_argument("--leader-election-lease-duration", type=int,
                     default=int(env("KTO_LEADER_ELECTION_LEASE_DURATION", "15")),
                     help="seconds a Lease lasts without renewal; a standby takes over after that")
    run.add_argument("--leader-election-renew-period", type=float,
                     default=float(env("KTO_LEADER_ELECTION_RENEW_PERIOD", "5")),
                     help="seconds between renewals of a held Lease")
    run.add_argument("--leader-election-renew-deadline", type=float,
                     default=float(env("KTO_LEADER_ELECTION_RENEW_DEADLINE", "0")) or None,
                     help="seconds a leader goes on without a successful renewal before it stops; shorter than "
                          "the lease duration (default: two thirds of it)")
    run.add_argument("--leader-election-retry-period", type=float,
                     default=float(env("KTO_LEADER_ELECTION_RETRY_PERIOD", "2")),
                     help="seconds between tries to acquire the Lease, and between retries of a failed renewal")


def timing(args: argparse.Namespace) -> Timing:
    from kto.ops.leader import Timing

    return Timing(args.leader_election_lease_duration, args.leader_election_renew_period,
                  args.leader_election_retry_period, args.leader_election_renew_deadline)


def leadership(args: argparse.Namespace) -> LeaderElector | Unelected:
    """The leader election ``kto run`` was asked for: a LeaderElector on its Lease, or none (Unelected)."""
    from kto.ops import leader

    if not args.leader_elect:
        return leader.Unelected()
    t = timing(args)
    leases = leader.LeaseClient(leader.api_client(), args.leader_election_namespace or leader.default_namespace(),
                                args.leader_election_name, t.request_timeout)
    return leader.LeaderElector(leases, leader.default_identity(), t)


def run(args: argparse.Namespace) -> int:
    import kopf
    from prometheus_client import start_http_server

    import kto.handlers  # noqa: F401 - registers the handlers
    from kto.ops import gcpolicy, leader

    gcpolicy.limit_arenas()  # before any thread starts
    problem = kubeconfig_problem()
    if problem is not None:
        print(f"kto run: error: {problem}", file=sys.stderr)
        return 1

    namespaces = list(args.namespace) or [n for n in os.environ.get("KTO_NAMESPACES", "").split(",") if n]
    level = logs.level_of(args.log_level, args.verbose)
    logs.configure(args.log_format, level)
    logging.getLogger("kto.librdkafka").setLevel(max(level, logging.WARNING))
    # kafka-python (topic configs, the ApiVersions check, quotas, replica moves, lag) logs every connection,
    # metadata refresh and lost socket, some with a traceback, and a warning at each SASL_PLAINTEXT login; its
    # failures reach kto as exceptions, which kto classifies and reports itself. Its warnings are shown only at
    # --log-level debug, and never its own debug lines: they print the client's config, password included.
    logging.getLogger("kafka").setLevel(logging.WARNING if level <= logging.DEBUG else logging.CRITICAL)
    if level > logging.DEBUG:
        # kopf reports every handled watch event at INFO; kto logs what it does itself.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    if args.metrics_port:
        start_http_server(args.metrics_port, addr=args.metrics_address)
    memo = kopf.Memo(controller_options={"batch_window": args.batch_window, "max_batch": args.max_batch,
                                         "sweep_seconds": args.sweep_interval, "lag_interval": args.lag_interval,
                                         "lag_max_series": args.lag_max_series,
                                         "namespaces": namespaces, "state_namespace": args.state_namespace
                                         or args.leader_election_namespace or leader.default_namespace()})
    elected = leadership(args)
    election = " ".join(f"{k}={elected.describe()[k]}" for k in ("lease", "identity")) if args.leader_elect \
        else "leader-election=off"
    log.info("Starting kto %s namespaces=%s %s", __version__, ",".join(namespaces) or "*", election)
    return asyncio.run(serve(args, memo, namespaces, elected))


async def serve(args: argparse.Namespace, memo: kopf.Memo, namespaces: list[str],
                elected: LeaderElector | Unelected) -> int:
    """/healthz from the start; the Lease before kopf starts (so before kto's startup LIST and its first write);
    kopf while the Lease is renewed; the Lease given back after kopf stopped."""
    import kopf

    from kto.ops.health import HealthServer

    started = asyncio.Event()  # kopf raises it once kto's startup handler has finished
    stop = asyncio.Event()  # SIGTERM/SIGINT before kopf installs its own handlers
    server = HealthServer(args.health_address, args.health_port, elected, started.is_set) if args.health_port \
        else None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        if server is not None:
            await server.start()
        if not await until_leading(elected, stop):
            return 0
        keeper = asyncio.create_task(elected.keep(), name="leader-lease")
        keeper.add_done_callback(_report_crash)
        try:
            await kopf.operator(standalone=True, clusterwide=not namespaces, namespaces=namespaces, memo=memo,
                                ready_flag=started, stop_flag=stop)
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
            await elected.release()
    finally:
        if server is not None:
            await server.stop()
        elected.close()
    return 0


async def until_leading(elected: LeaderElector | Unelected, stop: asyncio.Event) -> bool:
    """Wait until this process leads; False when ``stop`` came first (a standby holds nothing, so it just
    goes)."""
    acquiring = asyncio.create_task(elected.acquire(), name="leader-acquire")
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({acquiring, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if not stop.is_set():
        acquiring.result()  # raises what acquiring raised
        return True
    acquiring.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await acquiring
    await elected.release()  # in case the Lease came with the signal
    log.info("Stopped while standing by")
    return False


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("Keeping the leader Lease failed; the watchdog ends kto when the Lease runs out",
                  exc_info=task.exception())


def kubeconfig_problem() -> str | None:
    """Why kto cannot load its Kubernetes credentials (None: it can), in one line."""
    from kubernetes.config.config_exception import ConfigException

    from kto.kube.client import api_client, close_api

    try:
        close_api(api_client(pool_size=1))
    except (ConfigException, OSError) as err:
        return (f"cannot load Kubernetes credentials: {err} (in a Pod kto uses its ServiceAccount; elsewhere set "
                "$KUBECONFIG or write ~/.kube/config)")
    return None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.command in cli.COMMANDS:
        return cli.main(args, build_parser()[0])
    if args.command == "version":
        print(f"kto {__version__}")
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
