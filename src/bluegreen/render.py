"""Plain-text renderings of command results (JSON output needs none)."""

from __future__ import annotations

from typing import Any


def _env_line(label: str, env: dict[str, Any] | None) -> str:
    if env is None:
        return f"{label:8} unknown"
    where = env["load_balancer"]
    if env.get("target_group"):
        where += f" target group {env['target_group']}"
    if env["asg"] is None:
        return f"{label:8} {where}: no release"
    return (
        f"{label:8} {where}: {env['version'] or '-'} ({env['ami']}) "
        f"group {env['asg']}, {env['healthy']}/{env['desired']} healthy"
    )


def status_text(r: dict[str, Any]) -> str:
    lines = [f"{r['domain']} (strategy {r['strategy']})"]
    lines.append(_env_line("live", r["live"]))
    lines.append(_env_line("staging", r["staging"]))
    if r.get("weights") and len([w for w in r["weights"].values() if w]) > 1:
        lines.append("weights  " + ", ".join(f"{k}={v}" for k, v in sorted(r["weights"].items())))
    if r.get("live_since"):
        lines.append(f"live since {r['live_since']} (made live by {r.get('made_live_by') or '?'})")
    if r.get("lock"):
        lk = r["lock"]
        lines.append(
            f"locked   by {lk['who']}@{lk['host']} pid {lk['pid']} ({lk['command']}) since "
            f"{lk['since']}, lock id {lk['lock_id']}"
        )
    if r["problems"]:
        lines.append("problems:")
        lines += [f"  - {p}" for p in r["problems"]]
    else:
        lines.append("no problems found")
    return "\n".join(lines)


def history_text(entries: list[dict[str, Any]]) -> str:
    if not entries:
        return "no history yet"
    rows = []
    for e in entries:
        rows.append(
            f"{e.get('when', '?'):20} {e.get('command', '?'):9} {e.get('result', '?'):10} "
            f"{e.get('who', '?'):10} {e.get('duration', 0):>7}s  {e.get('summary', '')}"
        )
    return "\n".join(rows)
