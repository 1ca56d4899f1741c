#!/usr/bin/env python3
"""Start, stop and inspect the local environment (etcd, kube-apiserver, Kafka).

    python3 hack/env.py up [--kafka-nodes 3] [--kafka-version 3.9.1] [--kafka-mode zookeeper] [--authorizer]
    python3 hack/env.py down
    python3 hack/env.py status

State, logs and data live in ./.kto (or $KTO_ENV_DIR); `up` writes .kto/env.sh to source.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import localenv


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["up", "down", "status", "build"])
    parser.add_argument("--root", default=os.environ.get("KTO_ENV_DIR", str(localenv.REPO / ".kto")))
    parser.add_argument("--kafka-nodes", type=int, default=int(os.environ.get("KAFKA_NODES") or 1))
    parser.add_argument("--kafka-version", default=os.environ.get("KAFKA_VERSION") or None)
    parser.add_argument("--kafka-mode", choices=localenv.MODES, default=os.environ.get("KAFKA_MODE") or "kraft",
                        help="zookeeper: a ZooKeeper server and 3.x brokers on it (KRaft otherwise)")
    parser.add_argument("--authorizer", action="store_true",
                        default=os.environ.get("KAFKA_AUTHORIZER", "").lower() in ("1", "true", "yes"))
    args = parser.parse_args()
    root = Path(args.root).resolve()
    try:
        if args.command == "build":
            for component in ("etcd", "kubernetes", "helm", "promtool"):
                localenv.ensure_built(component)
            localenv.ensure_built("kafka", args.kafka_version)
            # The 3.x brokers too: the compatibility tier runs kto against them (users still run 3.x brokers).
            versions = localenv.read_versions()
            for version in (versions["KAFKA_VERSION_3X"], versions["KAFKA_VERSION_OLDEST"]):
                localenv.ensure_built("kafka", version)
        elif args.command == "up":
            if args.kafka_nodes < 1:
                parser.error("--kafka-nodes must be at least 1")
            localenv.up(root, kafka_nodes=args.kafka_nodes, kafka_version=args.kafka_version,
                        authorizer=args.authorizer, kafka_mode=args.kafka_mode)
            localenv.ensure_built("helm")
            print(f"Environment is up. Use it with:\n  source {root / 'env.sh'}\n  kubectl get namespaces\n"
                  f"Stop it with: make env-down")
        elif args.command == "down":
            localenv.down(root)
            print("Environment is down.")
        else:
            procs = localenv.load_state(root)
            if not procs:
                print(f"No environment recorded under {root}.")
                return 1
            for p in procs:
                state = "running" if p.is_alive() else "NOT RUNNING"
                print(f"{p.name:16} pid {p.pid:<8} {state:12} rss {localenv.rss_mib(p.pid):7.1f} MiB  log {p.log}")
            return 0 if all(p.is_alive() for p in procs) else 1
    except localenv.EnvError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
