"""Branch coverage per package of bridge/, from the .coverage data the test command left.

Prints a Markdown table (the README's "Coverage" section is this output): statements and
branches covered per package, the packages under 85 % marked.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import coverage

THRESHOLD = 85.0
ROOT = Path(__file__).resolve().parents[1]


def package_of(path: Path) -> str:
    parts = path.relative_to(ROOT).parts
    return "/".join(parts[:2]) if len(parts) > 2 else "bridge (top level)"


def main() -> int:
    data_file = ROOT / ".coverage"
    if not data_file.exists():
        print("coverage: no .coverage data (run scripts/test.sh first)")
        return 1
    cov = coverage.Coverage(data_file=str(data_file))
    cov.load()
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for name in cov.get_data().measured_files():
        path = Path(name)
        # Python only: Jinja's compiled templates are traced under their .html names.
        if ROOT / "bridge" not in path.parents or path.suffix != ".py":
            continue
        # The per-file numbers `coverage report` prints; the public API has no branch counts.
        analysis = cov._analyze(name)
        numbers = analysis.numbers
        row = totals[package_of(path)]
        row[0] += numbers.n_statements
        row[1] += numbers.n_statements - numbers.n_missing
        row[2] += numbers.n_branches
        row[3] += numbers.n_branches - numbers.n_missing_branches
    print("| package | statements | branches | covered |")
    print("|---|---|---|---|")
    for package in sorted(totals):
        stmts, hit, branches, taken = totals[package]
        percent = 100.0 * (hit + taken) / max(1, stmts + branches)
        mark = " (under 85 %)" if percent < THRESHOLD else ""
        print(f"| `{package}` | {hit}/{stmts} | {taken}/{branches} | {percent:.1f} %{mark} |")
    stmts, hit, branches, taken = (sum(row[i] for row in totals.values()) for i in range(4))
    percent = 100.0 * (hit + taken) / max(1, stmts + branches)
    print(f"| **all of bridge/** | {hit}/{stmts} | {taken}/{branches} | {percent:.1f} % |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
