"""Progress of long ``kto import`` and ``kto plan`` runs, on stderr, only when stderr is a terminal.

A line such as ``described 400/1000 topics`` is rewritten in place (``\\r``) and wiped when the work is done;
when stderr is a file or a pipe (CI, ``2>log``) nothing at all is written, so logs hold only what matters.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TextIO, TypeVar

T = TypeVar("T")
CHUNK = 500  # topics described per request when progress is shown: a line moves about every half second


class Progress:
    def __init__(self, stream: TextIO | None = None):
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = _is_terminal(self.stream)
        self.width = 0  # the length of the line shown, to wipe it

    def update(self, verb: str, done: int, total: int, noun: str) -> None:
        if not self.enabled:
            return
        text = f"{verb} {done}/{total} {noun}"
        self.stream.write("\r" + text.ljust(self.width))
        self.stream.flush()
        self.width = max(self.width, len(text))

    def clear(self) -> None:
        if self.enabled and self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()
            self.width = 0


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or file-less stream
        return False


async def in_chunks(describe: Callable[[list[str]], Awaitable[Mapping[str, T]]], names: Sequence[str],
                    progress: Progress, noun: str = "topics") -> dict[str, T]:
    """``describe`` over ``names``: in one request when no progress is shown, else chunk by chunk, each chunk
    counted on the terminal."""
    if not progress.enabled:
        return dict(await describe(list(names)))
    out: dict[str, T] = {}
    for start in range(0, len(names), CHUNK):
        out |= await describe(list(names[start:start + CHUNK]))
        progress.update("described", min(start + CHUNK, len(names)), len(names), noun)
    progress.clear()
    return out
