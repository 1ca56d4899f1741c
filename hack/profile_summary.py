#!/usr/bin/env python3
"""Summarise a py-spy raw profile (``py-spy record --gil -f raw -o FILE``): each function's inclusive share of
the samples, then its own share. docs/profiles/ holds the summaries docs/benchmarks.md cites.

    py-spy record -p PID -d 60 -r 100 --gil -f raw -o /tmp/kto.raw
    .venv/bin/python hack/profile_summary.py /tmp/kto.raw [TOP]
"""

from __future__ import annotations

import collections
import sys


def key(frame: str) -> str:
    """``function (file.py)`` of a ``function (path/file.py:line)`` frame."""
    if "(" not in frame:
        return frame
    return frame.split(" (")[0] + " (" + frame.rsplit("(", 1)[-1].split(":")[0].split("/")[-1] + ")"


def main(path: str, top: int = 60) -> None:
    total = 0
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    with open(path) as lines:
        for line in lines:
            stack, count = line.rsplit(" ", 1)
            n = int(count)
            total += n
            frames = [key(f) for f in stack.split(";")]
            own[frames[-1]] += n
            for name in set(frames):
                inclusive[name] += n
    print("total", total)
    for name, n in inclusive.most_common(top):
        print(f"{n / total * 100:5.1f}% {name}")
    print("--- own")
    for name, n in own.most_common(30):
        print(f"{n / total * 100:5.1f}% {name}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 60)
