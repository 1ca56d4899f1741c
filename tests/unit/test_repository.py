"""What the repository tracks: source, not what builds or downloads make. A file over 1 MB or a binary build
artifact (a wheel, an archive, an image, a compiled object) in git is a mistake that every clone pays for."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MAX_BYTES = 1_000_000
ARTIFACTS = (".whl", ".egg", ".tar", ".tar.gz", ".tgz", ".zip", ".jar", ".so", ".o", ".a", ".pyc", ".tar.zst",
             ".deb", ".img", ".iso", ".qcow2", ".exe")


def _tracked() -> list[str]:
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, check=True, capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [p for p in out.decode().split("\0") if p]


@pytest.mark.unit
def test_no_tracked_file_is_over_1_mb() -> None:
    big = [f"{p} ({(REPO / p).stat().st_size} bytes)" for p in _tracked()
           if (REPO / p).is_file() and (REPO / p).stat().st_size > MAX_BYTES]
    assert not big, f"remove these from git (build or download them instead): {big}"


@pytest.mark.unit
def test_no_build_artifact_is_tracked() -> None:
    found = [p for p in _tracked() if p.lower().endswith(ARTIFACTS)]
    assert not found, f"build outputs are never committed: {found}"
