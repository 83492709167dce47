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
    if (r.get("staging_access") or {}).get("state", "open to everyone") != "open to everyone":
        lines.append(f"staging  {r['staging_access']['state']}")
    if r.get("live_since"):
        lines.append(f"live since {r['live_since']} (made live by {r.get('made_live_by') or '?'})")
    if r.get("lock"):
        lk = r["lock"]
        lines.append(
            f"locked   by {lk['who']}@{lk['host']} pid {lk['pid']} ({lk['command']}) since "
            f"{lk['since']}, lock id {lk['lock_id']}"
        )
    lines += _ownership(r)
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
        change = f"{e.get('live_before') or '-'} -> {e.get('live_after') or '-'}"
        rows.append(
            f"{e.get('when', '?'):20} {e.get('command', '?'):9} {e.get('result', '?'):12} "
            f"{e.get('who', '?'):10} {float(e.get('duration') or 0):>6.0f}s  live {change:14} "
            f"{e.get('summary', '')}"
        )
    return "\n".join(rows)


# -- rich tables, for text output to a terminal --------------------------------------
def status_table(r: dict[str, Any]) -> Any:
    """The status as a rich table (only called when stdout is a terminal)."""
    from rich.console import Group
    from rich.table import Table

    t = Table(title=f"{r['domain']} (strategy {r['strategy']})", title_justify="left")
    for col in ("", "load balancer", "version", "image", "group", "healthy"):
        t.add_column(col, overflow="fold")
    for label in ("live", "staging"):
        env = r.get(label)
        if env is None:
            t.add_row(label, "unknown", "", "", "", "")
            continue
        t.add_row(
            label,
            env["load_balancer"],
            env["version"] or ("-" if env["asg"] else "no release"),
            env["ami"] or "",
            env["asg"] or "",
            f"{env['healthy']}/{env['desired']}" if env["asg"] else "",
        )
    return Group(t, *status_text(r).splitlines()[3:])


def history_table(entries: list[dict[str, Any]]) -> Any:
    from rich.table import Table

    if not entries:
        return "no history yet"
    t = Table()
    for col in ("when", "command", "result", "who", "live before", "live after", "took", "summary"):
        t.add_column(col, overflow="fold")
    for e in entries:
        t.add_row(
            str(e.get("when", "?")),
            str(e.get("command", "?")),
            str(e.get("result", "?")),
            str(e.get("who", "?")),
            str(e.get("live_before") or "-"),
            str(e.get("live_after") or "-"),
            f"{float(e.get('duration') or 0):.0f}s",
            str(e.get("summary", "")),
        )
    return t


def config_text(r: dict[str, Any]) -> str:
    lines = [f"config file: {r['config_file'] or 'none'}"]
    width = max(len(k) for k in r["settings"])
    for key, item in r["settings"].items():
        lines.append(f"{key:{width}}  {_value(item['value']):30}  {item['source']}")
    return "\n".join(lines + _ownership(r))


def _ownership(r: dict[str, Any]) -> list[str]:
    """Which resources are adopted and which bluegreen owns, when any is adopted."""
    from bluegreen.model.adoption import ownership_lines

    resources = r.get("resources") or {}
    if not any(x["owner"] == "adopted" for x in resources.values()):
        return []
    return ownership_lines(resources)


def config_table(r: dict[str, Any]) -> Any:
    from rich.console import Group
    from rich.table import Table

    t = Table(title=f"config file: {r['config_file'] or 'none'}", title_justify="left")
    for col in ("setting", "value", "from"):
        t.add_column(col, overflow="fold")
    for key, item in r["settings"].items():
        t.add_row(key, _value(item["value"]), item["source"])
    return Group(t, *_ownership(r)) if _ownership(r) else t


def _value(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, (list, tuple)):
        return ",".join(str(x) for x in v) or "(none)"
    return str(v)
