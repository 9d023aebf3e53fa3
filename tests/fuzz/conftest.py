"""The fuzz session's table: inputs tried per reader and command, and how each was answered."""

from __future__ import annotations

from typing import Any

from corrupt import STATS


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not STATS:
        return
    cols = ("accepted", "clear-error", "reported", "unclear-error", "traceback", "silent")
    terminalreporter.section("fuzz: inputs tried per reader and command")
    terminalreporter.write_line(f"{'reader or command':40} {'tried':>6} " + " ".join(f"{c:>13}" for c in cols))
    total = {c: 0 for c in cols}
    for name in sorted(STATS):
        counts = STATS[name]
        terminalreporter.write_line(f"{name:40} {sum(counts.values()):6d} "
                                    + " ".join(f"{counts[c]:13d}" for c in cols))
        for c in cols:
            total[c] += counts[c]
    terminalreporter.write_line(f"{'total':40} {sum(total.values()):6d} " + " ".join(f"{total[c]:13d}" for c in cols))
