"""A small IAM policy evaluator for the tests: what moto cannot check.

moto's IAM enforcement checks the action of each call and nothing else (it
compares a statement's Resource with "*" and skips identity-policy
Conditions). This module evaluates the rest against calls recorded with
botocore hooks: for each call, the requests AWS authorizes (the call's own
action plus the ones AWS checks behind it: tag-on-create, ec2:RunInstances and
iam:PassRole behind an autoscaling group, ...), each with its resource ARNs and
condition context (request tags, tags of the resource as created earlier in
the recording, Route 53 record names, types and actions, DynamoDB leading
keys). ``allowed`` then applies IAM's rules: an Allow statement must match the
action, the resource and every condition.

The mapping covers the calls bluegreen makes; an unknown call maps to its
action on resource "*" with no context, which a scoped write statement does
not allow: extend ``requests`` when a new call appears.
"""

from __future__ import annotations

import copy
import fnmatch
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

ACCOUNT = "123456789012"
REGION = "us-east-1"
_PREFIX = {"elb": "elasticloadbalancing", "elbv2": "elasticloadbalancing"}


@dataclass
class Call:
    service: str  # boto3 name: ec2, elb, autoscaling...
    operation: str  # API name: CreateLaunchTemplate
    params: dict[str, Any]
    response: dict[str, Any] = field(default_factory=dict)

    @property
    def action(self) -> str:
        return f"{_PREFIX.get(self.service, self.service)}:{self.operation}"


@dataclass
class Request:
    action: str
    resource: str
    context: dict[str, list[str]]
    call: str  # the call that needs it, for messages


class Recorder:
    """botocore hooks that record every call (parameters and parsed response)."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._pending: dict[int, Call] = {}

    def _before(self, params: dict[str, Any], model: Any, **kwargs: Any) -> None:
        call = Call(model.service_model.service_name, model.name, copy.deepcopy(params))
        self.calls.append(call)
        context = kwargs.get("context")
        if isinstance(context, dict):
            context["bluegreen_call"] = call

    def _after(self, parsed: dict[str, Any], model: Any, **kwargs: Any) -> None:
        context = kwargs.get("context")
        call = context.get("bluegreen_call") if isinstance(context, dict) else None
        if isinstance(call, Call):
            call.response = parsed

    @property
    def hooks(self) -> list[tuple[str, Callable[..., Any]]]:
        return [("before-parameter-build", self._before), ("after-call", self._after)]


def arn(service: str, resource: str, *, regional: bool = True) -> str:
    return f"arn:aws:{service}:{REGION if regional else ''}:{ACCOUNT}:{resource}"


def _tags(items: Sequence[Mapping[str, Any]] | None) -> dict[str, str]:
    return {str(t["Key"]): str(t.get("Value", "")) for t in items or ()}


def _spec_tags(params: Mapping[str, Any], kind: str | None = None) -> dict[str, str]:
    out: dict[str, str] = {}
    for spec in params.get("TagSpecifications", []):
        if kind is None or spec.get("ResourceType") == kind:
            out.update(_tags(spec.get("Tags")))
    return out


def _request_tags(tags: Mapping[str, str]) -> dict[str, list[str]]:
    ctx = {f"aws:RequestTag/{k}": [v] for k, v in tags.items()}
    if tags:
        ctx["aws:TagKeys"] = sorted(tags)
    return ctx


def _resource_tags(tags: Mapping[str, str], key: str = "aws:ResourceTag") -> dict[str, list[str]]:
    return {f"{key}/{k}": [v] for k, v in tags.items()}


_EC2_IDS = {
    "VpcId": "vpc",
    "SubnetId": "subnet",
    "InternetGatewayId": "internet-gateway",
    "RouteTableId": "route-table",
    "GroupId": "security-group",
}


def _kind_of(resource_id: str) -> str:
    """The ARN's resource type of an id the recording did not see created (an
    adopted VPC, subnet or security group): from the id's prefix."""
    prefixes = {
        "vpc-": "vpc",
        "subnet-": "subnet",
        "sg-": "security-group",
        "igw-": "internet-gateway",
        "rtb-": "route-table",
    }
    return next((k for p, k in prefixes.items() if resource_id.startswith(p)), "unknown")


@dataclass
class World:
    """Tags of what the recording created, by name or id."""

    groups: dict[str, dict[str, str]] = field(default_factory=dict)
    instances: dict[str, str] = field(default_factory=dict)  # instance id -> group
    subnets: dict[str, list[str]] = field(default_factory=dict)  # group -> subnets
    templates: dict[str, dict[str, Any]] = field(default_factory=dict)
    ec2: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)
    associations: dict[str, str] = field(default_factory=dict)  # association -> route table
    # instance profile -> its role (the role a launch passes), as read or added
    profile_roles: dict[str, str] = field(default_factory=dict)

    def requests(self, call: Call) -> list[Request]:
        """Every authorization AWS makes for ``call``."""
        p, op, label = call.params, call.operation, f"{call.service}.{call.operation}"
        out: list[Request] = []

        def need(action: str, resource: str, **ctx: list[str]) -> None:
            out.append(Request(action, resource, dict(ctx), label))

        def need_ctx(action: str, resource: str, ctx: Mapping[str, list[str]]) -> None:
            out.append(Request(action, resource, dict(ctx), label))

        a = call.action
        if call.service == "sts":
            return []  # GetCallerIdentity: AWS allows it to everyone
        if call.service == "route53":
            zone = str(p.get("HostedZoneId", "")).split("/")[-1]
            if op in ("GetHostedZone", "DeleteHostedZone"):
                zone = str(p["Id"]).split("/")[-1]
            if op == "ChangeResourceRecordSets":
                changes = p["ChangeBatch"]["Changes"]
                need(
                    a,
                    f"arn:aws:route53:::hostedzone/{zone}",
                    **{
                        "route53:ChangeResourceRecordSetsNormalizedRecordNames": sorted(
                            {c["ResourceRecordSet"]["Name"].lower().rstrip(".") for c in changes}
                        ),
                        "route53:ChangeResourceRecordSetsRecordTypes": sorted(
                            {c["ResourceRecordSet"]["Type"] for c in changes}
                        ),
                        "route53:ChangeResourceRecordSetsActions": sorted(
                            {c["Action"] for c in changes}
                        ),
                    },
                )
            elif zone:
                need(a, f"arn:aws:route53:::hostedzone/{zone}")
            elif op == "GetChange":
                need(a, f"arn:aws:route53:::change/{str(p['Id']).split('/')[-1]}")
            else:
                need(a, "*")
            return out
        if call.service == "dynamodb" and op == "TransactWriteItems":
            # IAM authorises each item of a transaction as its own write
            # (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html)
            for entry in p["TransactItems"]:
                (kind, write), *_ = entry.items()
                action = {"ConditionCheck": "ConditionCheckItem"}.get(kind, f"{kind}Item")
                item = write.get("Key") or write["Item"]
                need(
                    f"dynamodb:{action}",
                    arn("dynamodb", f"table/{write['TableName']}"),
                    **{"dynamodb:LeadingKeys": [item["pk"]["S"]]},
                )
            return out
        if call.service == "dynamodb":
            if op == "BatchWriteItem":
                # one authorization per table, with every item's partition key
                for name, writes in p["RequestItems"].items():
                    keys = [
                        (w.get("DeleteRequest") or w["PutRequest"]).get("Key")
                        or w["PutRequest"]["Item"]
                        for w in writes
                    ]
                    need(
                        a,
                        arn("dynamodb", f"table/{name}"),
                        **{"dynamodb:LeadingKeys": sorted({k["pk"]["S"] for k in keys})},
                    )
                return out
            table = arn("dynamodb", f"table/{p['TableName']}")
            if "Key" in p or "Item" in p:
                item = p.get("Key") or p["Item"]
                need(a, table, **{"dynamodb:LeadingKeys": [item["pk"]["S"]]})
            elif op == "Query":
                need(
                    a,
                    table,
                    **{"dynamodb:LeadingKeys": [p["ExpressionAttributeValues"][":pk"]["S"]]},
                )
            else:
                need(a, table)
                if op == "CreateTable" and p.get("Tags"):
                    need("dynamodb:TagResource", table)
            return out
        if call.service == "iam":
            held = ((call.response or {}).get("InstanceProfile") or {}).get("Roles") or []
            if op == "GetInstanceProfile" and held:
                self.profile_roles[p["InstanceProfileName"]] = held[0]["RoleName"]
            if op == "AddRoleToInstanceProfile":
                self.profile_roles[p["InstanceProfileName"]] = p["RoleName"]
            role = arn("iam", f"role/{p.get('RoleName', '')}", regional=False)
            profile = arn(
                "iam", f"instance-profile/{p.get('InstanceProfileName', '')}", regional=False
            )
            if op in (
                "GetRole",
                "CreateRole",
                "PutRolePolicy",
                "ListRolePolicies",
                "ListAttachedRolePolicies",
                "DeleteRolePolicy",
                "DetachRolePolicy",
                "DeleteRole",
            ):
                need(a, role)
                if op == "CreateRole" and p.get("Tags"):
                    need("iam:TagRole", role)
            elif op in (
                "GetInstanceProfile",
                "CreateInstanceProfile",
                "DeleteInstanceProfile",
                "RemoveRoleFromInstanceProfile",
            ):
                need(a, profile)
                if op == "CreateInstanceProfile" and p.get("Tags"):
                    need("iam:TagInstanceProfile", profile)
            elif op == "AddRoleToInstanceProfile":
                need(a, profile)
                need("iam:PassRole", role)
            else:
                need(a, "*")
            return out
        if call.service == "elbv2" and not op.startswith("Describe"):
            # ARNs come in the parameters (or the response, for a create)
            created = {
                "CreateLoadBalancer": ("LoadBalancers", "LoadBalancerArn"),
                "CreateTargetGroup": ("TargetGroups", "TargetGroupArn"),
                "CreateListener": ("Listeners", "ListenerArn"),
                "CreateRule": ("Rules", "RuleArn"),
            }.get(op)
            arns: list[str] = []
            if created:
                arns = [str(x[created[1]]) for x in call.response.get(created[0], [])]
            else:
                for key in ("RuleArn", "ListenerArn", "TargetGroupArn", "LoadBalancerArn"):
                    if key in p:
                        arns = [str(p[key])]
                        break
            for resource in arns or ["*"]:
                need(a, resource)
                if created and p.get("Tags"):
                    need("elasticloadbalancing:AddTags", resource)
            return out
        if call.service in ("elb", "elbv2") and op in (
            "CreateLoadBalancer",
            "ConfigureHealthCheck",
            "ModifyLoadBalancerAttributes",
            "DeleteLoadBalancer",
            "ApplySecurityGroupsToLoadBalancer",
        ):
            lb = arn("elasticloadbalancing", f"loadbalancer/{p['LoadBalancerName']}")
            need(a, lb)
            if op == "CreateLoadBalancer" and p.get("Tags"):
                need("elasticloadbalancing:AddTags", lb)
            return out
        if call.service == "autoscaling":
            self._autoscaling(call, need_ctx)
            return out
        if call.service == "ec2":
            self._ec2(call, need_ctx)
            return out
        need(a, "*")
        return out

    def _autoscaling(
        self, call: Call, collect: Callable[[str, str, Mapping[str, list[str]]], None]
    ) -> None:
        p, op, a = call.params, call.operation, call.action

        for g in call.response.get("AutoScalingGroups", []):
            self.groups.setdefault(g["AutoScalingGroupName"], _tags(g.get("Tags")))
            for i in g.get("Instances", []):
                self.instances[i["InstanceId"]] = g["AutoScalingGroupName"]
        name = str(p.get("AutoScalingGroupName", ""))
        if not name and p.get("InstanceId"):
            name = self.instances.get(p["InstanceId"], "")
        if not name and p.get("Tags"):
            name = str(p["Tags"][0]["ResourceId"])
        group = arn("autoscaling", f"autoScalingGroup:uuid:autoScalingGroupName/{name}")
        if "VPCZoneIdentifier" in p:
            self.subnets[name] = p["VPCZoneIdentifier"].split(",")
        handled = True
        if op == "CreateAutoScalingGroup":
            tags = _tags(p.get("Tags"))
            self.groups[name] = tags
            collect(a, group, _request_tags(tags))
            if tags:
                collect("autoscaling:CreateOrUpdateTags", group, _request_tags(tags))
        elif op in ("CreateOrUpdateTags", "DeleteTags"):
            before = self.groups.get(name, {})
            tags = _tags(p["Tags"])
            ctx = {
                **_resource_tags(before, "autoscaling:ResourceTag"),
                **(_request_tags(tags) if op == "CreateOrUpdateTags" else {}),
                "aws:TagKeys": sorted(tags),
            }
            collect(a, group, ctx)
            if op == "CreateOrUpdateTags":
                self.groups[name] = {**before, **tags}
            else:
                self.groups[name] = {k: v for k, v in before.items() if k not in tags}
        elif op == "UpdateAutoScalingGroup":
            collect(a, group, _resource_tags(self.groups.get(name, {}), "autoscaling:ResourceTag"))
        else:
            handled = False
        if op in ("CreateAutoScalingGroup", "UpdateAutoScalingGroup"):
            if "LaunchTemplate" in p:
                lt_name = p["LaunchTemplate"]["LaunchTemplateName"]
                lt = self.templates[lt_name]
                lt_arn = arn("ec2", f"launch-template/{lt['id']}")
                collect("ec2:RunInstances", lt_arn, _resource_tags(lt["tags"]))
                data = lt["data"]
                launched = ["instance/*", "volume/*", "network-interface/*"]
                launched += [f"subnet/{s}" for s in self.subnets.get(name, [])]
                launched += [f"security-group/{g}" for g in data["SecurityGroupIds"]]
                for r in launched:
                    collect("ec2:RunInstances", arn("ec2", r), {"ec2:LaunchTemplate": [lt_arn]})
                collect(
                    "ec2:RunInstances",
                    f"arn:aws:ec2:{REGION}::image/{data['ImageId']}",
                    {"ec2:LaunchTemplate": [lt_arn]},
                )
                instance_tags = _spec_tags(data, "instance")
                for r in ("instance/*", "volume/*"):
                    collect(
                        "ec2:CreateTags",
                        arn("ec2", r),
                        {"ec2:CreateAction": ["RunInstances"], **_request_tags(instance_tags)},
                    )
                profile = data["IamInstanceProfile"]["Name"]
                role = self.profile_roles.get(profile, profile)
                collect(
                    "iam:PassRole",
                    arn("iam", f"role/{role}", regional=False),
                    {"iam:PassedToService": ["ec2.amazonaws.com"]},
                )
        elif handled:
            pass
        elif op == "CreateLaunchConfiguration":
            lc = arn(
                "autoscaling",
                f"launchConfiguration:uuid:launchConfigurationName/{p['LaunchConfigurationName']}",
            )
            collect(a, lc, {})
            collect(
                "iam:PassRole",
                arn(
                    "iam",
                    f"role/{self.profile_roles.get(p['IamInstanceProfile'], p['IamInstanceProfile'])}",
                    regional=False,
                ),
                {"iam:PassedToService": ["ec2.amazonaws.com"]},
            )
        elif op == "DeleteLaunchConfiguration":
            lc = arn(
                "autoscaling",
                f"launchConfiguration:uuid:launchConfigurationName/{p['LaunchConfigurationName']}",
            )
            collect(a, lc, {})
        elif name and not op.startswith("Describe"):
            collect(a, group, _resource_tags(self.groups.get(name, {}), "autoscaling:ResourceTag"))
        else:
            collect(a, "*", {})

    def _ec2(
        self, call: Call, need_ctx: Callable[[str, str, Mapping[str, list[str]]], None]
    ) -> None:
        p, op, a, r = call.params, call.operation, call.action, call.response
        for table in r.get("RouteTables", []):
            for assoc in table.get("Associations", []):
                if assoc.get("RouteTableAssociationId"):
                    self.associations[assoc["RouteTableAssociationId"]] = table["RouteTableId"]
        if op == "AssociateRouteTable" and r.get("AssociationId"):
            self.associations[r["AssociationId"]] = p["RouteTableId"]
        if op.startswith("Describe"):
            need_ctx(a, "*", {})
        elif op == "CreateLaunchTemplate":
            tags = _spec_tags(p, "launch-template")
            lt_id = str(r.get("LaunchTemplate", {}).get("LaunchTemplateId", "lt-new"))
            self.templates[p["LaunchTemplateName"]] = {
                "id": lt_id,
                "tags": tags,
                "data": p["LaunchTemplateData"],
            }
            lt = arn("ec2", f"launch-template/{lt_id}")
            need_ctx(a, lt, _request_tags(tags))
            if tags:
                need_ctx(
                    "ec2:CreateTags",
                    lt,
                    {"ec2:CreateAction": [op], **_request_tags(tags)},
                )
        elif op in ("DeleteLaunchTemplate", "CreateLaunchTemplateVersion", "ModifyLaunchTemplate"):
            known = self.templates.get(
                p.get("LaunchTemplateName", ""), {"id": "lt-unknown", "tags": {}}
            )
            need_ctx(a, arn("ec2", f"launch-template/{known['id']}"), _resource_tags(known["tags"]))
        elif op.startswith("Create") and "TagSpecifications" in p:
            tags = _spec_tags(p)
            kind = p["TagSpecifications"][0]["ResourceType"]
            new_id = _created_id(r)
            if op == "CreateKeyPair":  # a key pair's ARN ends in its name, not its id
                new_id = p["KeyName"]
            if new_id:
                self.ec2[new_id] = (kind, tags)
            need_ctx(a, arn("ec2", f"{kind}/{new_id or '*'}"), _request_tags(tags))
            for existing in self._ids(p):
                kind2, _ = self.ec2.get(existing, (_kind_of(existing), {}))
                need_ctx(a, arn("ec2", f"{kind2}/{existing}"), _request_tags(tags))
            need_ctx(
                "ec2:CreateTags",
                arn("ec2", f"{kind}/{new_id or '*'}"),
                {"ec2:CreateAction": [op], **_request_tags(tags)},
            )
        else:
            ids = self._ids(p)
            for existing in ids:
                kind, tags = self.ec2.get(existing, (_kind_of(existing), {}))
                need_ctx(a, arn("ec2", f"{kind}/{existing}"), _resource_tags(tags))
            if not ids:
                need_ctx(a, "*", {})

    def _ids(self, params: Mapping[str, Any]) -> list[str]:
        ids = [str(params[k]) for k in _EC2_IDS if k in params]
        if "KeyName" in params:
            ids.append(str(params["KeyName"]))
        if "AssociationId" in params and params["AssociationId"] in self.associations:
            ids.append(self.associations[params["AssociationId"]])
        return ids


def _created_id(response: Mapping[str, Any]) -> str | None:
    """The id of what a create call made: {"Subnet": {"SubnetId": ...}}, {"GroupId": ...}."""
    for key, value in response.items():
        if isinstance(value, dict) and f"{key}Id" in value:
            return str(value[f"{key}Id"])
        if key in ("GroupId", "KeyPairId"):
            return str(value)
    return None


# -- evaluation --------------------------------------------------------------------
def _glob(pattern: str, value: str, *, case: bool = True) -> bool:
    if not case:
        pattern, value = pattern.lower(), value.lower()
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


def _listify(v: Any) -> list[str]:
    return [str(x) for x in (v if isinstance(v, list) else [v])]


def _condition(op: str, expected: Mapping[str, Any], ctx: Mapping[str, list[str]]) -> bool:
    for key, want in expected.items():
        wants = _listify(want)
        have = ctx.get(key)
        qualifier, _, base = op.rpartition(":")
        like = base in ("StringLike", "ArnLike")

        def match(value: str, wants: list[str] = wants, like: bool = like) -> bool:
            return any(_glob(w, value) if like else w == value for w in wants)

        if_exists = base.endswith("IfExists")
        base = base.removesuffix("IfExists")
        negated = base == "StringNotEquals"
        if negated:
            base = "StringEquals"
        if base not in ("StringEquals", "StringLike", "ArnLike", "ArnEquals"):
            raise ValueError(f"the simulator does not know condition operator {op}")
        if if_exists and not have:
            continue
        if negated:
            # ForAllValues:StringNotEquals: no value may be one of ``wants``
            if have and any(match(v) for v in have):
                return False
            continue
        if qualifier == "ForAllValues":
            if have and not all(match(v) for v in have):
                return False
        elif qualifier == "ForAnyValue":
            if not have or not any(match(v) for v in have):
                return False
        else:
            if not have or not any(match(v) for v in have):
                return False
    return True


def statement_allows(st: Mapping[str, Any], req: Request) -> bool:
    if st.get("Effect") != "Allow":
        return False
    if not any(_glob(a, req.action, case=False) for a in _listify(st["Action"])):
        return False
    if not any(_glob(r, req.resource) for r in _listify(st["Resource"])):
        return False
    return all(
        _condition(op, expected, req.context) for op, expected in st.get("Condition", {}).items()
    )


def allowed(policy: Mapping[str, Any], req: Request) -> bool:
    return any(statement_allows(st, req) for st in policy["Statement"])


def requests(calls: Sequence[Call], world: World | None = None) -> list[Request]:
    """Every authorization ``calls`` need, in order (``world`` carries the tags
    of what earlier calls created)."""
    w = world if world is not None else World()
    return [req for call in calls for req in w.requests(call)]
