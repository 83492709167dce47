"""The least-privilege IAM policy bluegreen needs, built from the settings.

Pure: no AWS call. ``build`` takes the settings, the account id and the ids of
the domain's two hosted zones (``"*"`` and ``None`` where unknown) and returns
a policy document. The command line (``bluegreen iam-policy``) looks the
account and zones up when it can.

The policy is a table (``NEEDS``): each row is one IAM action, the statement
it belongs to and when it is needed (``purpose``: init, operate, teardown or
bake; and a predicate on the settings: strategy, load-balancer kind, launch
configurations, key pair, alarms). A statement (``STATEMENTS``) says what the
actions may touch: a Resource (ARN patterns built from the domain's names) and
a Condition (tags, record names...). To support a new call, add a row; to
support a new kind of resource, add a statement. Rules the tests enforce:

* no wildcard in any action;
* read actions (``Describe*``, ``List*``, ``Get*``, DynamoDB ``Query`` and ``Scan``) only
  in statements whose Sid starts with ``Read``, and no write there;
* every write is limited by ARN to the domain's own names, or by a tag
  condition on ``bluegreen:domain``, or both.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from bluegreen.model.settings import Settings
from bluegreen.policy import scopes as scoping
from bluegreen.policy.needs import MANAGED_POLICY_LIMIT, NEEDS, PURPOSES, Need
from bluegreen.policy.needs import READ_PREFIXES as READ_PREFIXES
from bluegreen.policy.scopes import Target

__all__ = [
    "MANAGED_POLICY_LIMIT",
    "PURPOSES",
    "READ_PREFIXES",
    "Target",
    "actions",
    "build",
    "documents",
    "needs",
    "render",
    "size",
]


def needs(s: Settings, purpose: str) -> list[Need]:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}")
    return [
        x
        for x in NEEDS
        if purpose in x.purposes and x.when(s) and not _adopted_away(s, purpose, x.statement)
    ]


def _adopted_away(s: Settings, purpose: str, statement: str) -> bool:
    """init and teardown never write on what is adopted (``bluegreen.model.adoption``),
    and bluegreen then has none of its own of that kind to make or delete."""
    if purpose not in ("init", "teardown"):
        return False
    return (
        (statement in ("OwnLoadBalancers", "OwnTargetGroups") and bool(s.load_balancers))
        or (statement == "OwnRole" and bool(s.instance_profile))
        or (
            statement in ("CreateZones", "DeleteZones")
            and bool(s.public_zone_id and s.private_zone_id)
        )
    )


def build(s: Settings, purpose: str = "operate", target: Target | None = None) -> dict[str, Any]:
    """The policy document for ``purpose`` under settings ``s``."""
    t = target or Target(s.names(), s.region)
    a = t.names.adopted  # adopted zones: their ids, whatever a lookup by name found
    t = replace(
        t,
        public_zone=a.public_zone_id or t.public_zone,
        private_zone=a.private_zone_id or t.private_zone,
    )
    scopes = scoping.statements(t, s)
    by_sid: dict[str, list[str]] = {}
    for need in needs(s, purpose):
        actions = by_sid.setdefault(need.statement, [])
        if need.action not in actions:
            actions.append(need.action)
    statements = []
    for sid, actions in by_sid.items():
        resource, condition = scopes[sid]
        st: dict[str, Any] = {
            "Sid": sid,
            "Effect": "Allow",
            "Action": sorted(actions),
            "Resource": resource if len(resource) > 1 else resource[0],
        }
        if condition:
            st["Condition"] = condition
        statements.append(st)
    statements.sort(key=lambda st: (not st["Sid"].startswith("Read"), st["Sid"]))
    return {"Version": "2012-10-17", "Statement": statements}


def actions(policy: Mapping[str, Any]) -> set[str]:
    """Every action a policy document names."""
    out: set[str] = set()
    for st in policy["Statement"]:
        a = st["Action"]
        out.update([a] if isinstance(a, str) else a)
    return out


def size(policy: Mapping[str, Any]) -> int:
    """Characters as AWS counts them against its policy size limits (no white space)."""
    return len(json.dumps(policy, separators=(",", ":")))


def documents(policy: Mapping[str, Any], limit: int = MANAGED_POLICY_LIMIT) -> list[dict[str, Any]]:
    """``policy`` as one document when it fits ``limit``, else as the fewest
    documents that each fit (whole statements, first fit by decreasing size,
    each document keeping the statements' order). Attached together they
    allow exactly what ``policy`` allows: IAM takes the union of a principal's
    policies. Raises ValueError when one statement alone does not fit."""
    if size(policy) <= limit:
        return [dict(policy)]
    empty = size({"Version": policy["Version"], "Statement": []})
    order = {id(st): i for i, st in enumerate(policy["Statement"])}
    bins: list[list[dict[str, Any]]] = []
    room: list[int] = []
    for st in sorted(policy["Statement"], key=lambda st: -size(st)):
        need = size(st) + 1  # and the comma between statements
        if empty + need > limit:
            raise ValueError(f"statement {st.get('Sid')} alone is {size(st)} characters")
        for i, left in enumerate(room):
            if need <= left:
                bins[i].append(st)
                room[i] -= need
                break
        else:
            bins.append([st])
            room.append(limit - empty - need)
    return [
        {"Version": policy["Version"], "Statement": sorted(b, key=lambda st: order[id(st)])}
        for b in bins
    ]


def render(policy: Mapping[str, Any]) -> str:
    return json.dumps(policy, indent=2)
