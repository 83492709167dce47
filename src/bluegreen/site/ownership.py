"""What of a site bluegreen owns, for ``teardown``: decided by the settings
(what is adopted is never bluegreen's) and by the ``bluegreen:domain`` tag
init writes on everything it creates, never by a conventional name alone.
A conventional name without the tag (someone else's resource that happens to
be named like the site's) is kept, and teardown says so."""

from __future__ import annotations

from typing import Any

from bluegreen.aws import Gateway
from bluegreen.model.naming import TAG_DOMAIN, Names, bare


def _ours(tags: dict[str, str] | None, names: Names) -> bool:
    return bool(tags) and (tags or {}).get(TAG_DOMAIN) == names.domain


def _tag_list(tags: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags or []}


def balancers(
    gw: Gateway, names: Names
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """(classic, application) load balancers bluegreen made for the site, and
    what is kept and why: adopted ones, and look-alikes without the tag."""
    adopted = set(names.adopted.load_balancers)
    own = [n for n in (names.own_load_balancer(1), names.own_load_balancer(2)) if n not in adopted]
    kept = [f"load balancer {n}: adopted (load_balancers)" for n in names.adopted.load_balancers]
    if not own:
        return [], [], kept
    classic, albs = gw.parallel(lambda: gw.classic_load_balancers(own), lambda: gw.albs(own))
    c_tags = gw.classic_tags([lb["LoadBalancerName"] for lb in classic]) if classic else {}
    a_tags = gw.elbv2_tags([lb["LoadBalancerArn"] for lb in albs]) if albs else {}
    out_c = [lb for lb in classic if _ours(c_tags.get(lb["LoadBalancerName"]), names)]
    out_a = [lb for lb in albs if _ours(a_tags.get(lb["LoadBalancerArn"]), names)]
    for lb in classic + albs:
        if lb not in out_c and lb not in out_a:
            kept.append(
                f"load balancer {lb['LoadBalancerName']}: not tagged {TAG_DOMAIN}={names.domain}, "
                "so bluegreen did not make it"
            )
    return out_c, out_a, kept


def target_groups(gw: Gateway, names: Names) -> tuple[list[dict[str, Any]], list[str]]:
    """bluegreen's target groups (conventional name and the domain's tag)."""
    tgs = gw.target_groups([names.target_group(1), names.target_group(2)])
    tags = gw.elbv2_tags([tg["TargetGroupArn"] for tg in tgs]) if tgs else {}
    ours = [tg for tg in tgs if _ours(tags.get(tg["TargetGroupArn"]), names)]
    kept = [
        f"target group {tg['TargetGroupName']}: not tagged {TAG_DOMAIN}={names.domain}"
        for tg in tgs
        if tg not in ours
    ]
    return ours, kept


def targets(gw: Gateway, names: Names) -> set[str]:
    """The DNS names of the site's load balancers (adopted and bluegreen's):
    an alias record in an adopted zone is bluegreen's when it points at one."""
    wanted = list(
        dict.fromkeys(
            [*names.adopted.load_balancers, names.own_load_balancer(1), names.own_load_balancer(2)]
        )
    )
    classic, albs = gw.parallel(lambda: gw.classic_load_balancers(wanted), lambda: gw.albs(wanted))
    return {bare(lb["DNSName"]) for lb in [*classic, *albs]}


def identity(gw: Gateway, names: Names) -> tuple[bool, bool, list[str]]:
    """(delete the instance profile, delete the role, what is kept and why).
    The role is bluegreen's when it carries the domain's tag; the profile when
    it is not adopted and carries the tag, or (made before profiles were
    tagged) holds nothing but that role."""
    kept: list[str] = []
    adopted = names.adopted.instance_profile
    if adopted:  # bluegreen made no role or profile of its own for the site
        return False, False, [f"instance profile {adopted}: adopted (instance_profile)"]
    role = gw.role(names.role)
    role_ours = role is not None and _ours(_tag_list(role.get("Tags")), names)
    if role is not None and not role_ours:
        kept.append(f"IAM role {names.role}: not tagged {TAG_DOMAIN}={names.domain}")
    profile = gw.instance_profile(names.role)
    profile_ours = False
    if profile is not None:
        held = {r["RoleName"] for r in profile.get("Roles", [])}
        profile_ours = _ours(_tag_list(profile.get("Tags")), names) or (
            held <= {names.role} and (role_ours or not held)
        )
        if not profile_ours:
            kept.append(f"instance profile {names.role}: not bluegreen's (untagged, other roles)")
    return profile_ours, role_ours, kept


def groups_in_adopted_vpc(gw: Gateway, names: Names) -> list[dict[str, Any]]:
    """The security groups bluegreen made in an adopted VPC (tagged with the
    domain, not adopted themselves), the web servers' before the load balancers'."""
    vpc = names.adopted.vpc_id
    if not vpc:
        return []
    adopted = set(names.adopted.security_groups)
    mine = [
        g
        for g in gw.security_groups_of(vpc)
        if g["GroupId"] not in adopted
        and g["GroupName"] != "default"
        and _ours(_tag_list(g.get("Tags")), names)
    ]
    return sorted(mine, key=lambda g: (g["GroupName"] == names.lb_security_group, g["GroupName"]))


def policy_arns(gw: Gateway, names: Names) -> dict[str, Any]:
    """The ARNs the policy scopes adopted resources to (``bluegreen.model.adoption``):
    the adopted instance profile's role, the adopted ALBs' target groups."""
    from bluegreen.observe import adopted_albs

    out: dict[str, Any] = {}
    a = names.adopted
    if a.instance_profile:
        profile = gw.instance_profile(a.instance_profile)
        roles = (profile or {}).get("Roles", [])
        if roles:
            out["passed_role"] = str(roles[0]["Arn"])
    if a.load_balancers:
        _albs, tg_of = adopted_albs(gw, names)
        out["target_groups"] = tuple(sorted(t for t in tg_of.values() if t))
    return out
