"""shellcheck on every shell script in the repository, found by name and by shebang."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.stack.helpers import REPO_ROOT, describe, find_tool, run

SHEBANG = re.compile(rb"^#!\s*(/usr/bin/env\s+)?(/bin/|/usr/bin/)?(ba|da)?sh\b")


def shell_scripts() -> list[Path]:
    """Tracked and new (not ignored) files that are shell: *.sh or a shell shebang."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
        timeout=30,
    ).stdout.decode()
    found = []
    for name in listed.splitlines():
        path = REPO_ROOT / name
        if not path.is_file():
            continue
        with path.open("rb") as handle:
            first = handle.readline()
        if name.endswith(".sh") or SHEBANG.match(first):
            found.append(path)
    return sorted(found)


def test_every_shell_script_passes_shellcheck() -> None:
    scripts = shell_scripts()
    names = {p.relative_to(REPO_ROOT).as_posix() for p in scripts}
    # The finder must see the scripts the operator runs, or the check proves nothing.
    assert {"scripts/backup.sh", "scripts/restore.sh", "scripts/preflight.sh", ".ci/run"} <= names
    assert "node-scripts/setup-exporters.sh" in names
    # -x: follow `. backup-common.sh` as the scripts do.
    result = run([find_tool("shellcheck"), "-x", "--severity=style", *map(str, scripts)])
    assert result.returncode == 0, describe(result)
