"""Entry point: ``kto`` / ``python -m kto``."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from kto import __version__

    args = sys.argv[1:] if argv is None else argv
    if args[:1] in (["--version"], ["version"]):
        print(f"kto {__version__}")
        return 0
    print("kto: the operator is not built yet; see the open issues", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
