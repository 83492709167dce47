"""EC2's network: the VPC, subnets, internet gateway, route tables and
security groups."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bluegreen.aws.base import BaseGateway
from bluegreen.aws.ec2 import tag_spec, tag_value
from bluegreen.errors import AwsError


class NetworkCalls(BaseGateway):
    # -- network ------------------------------------------------------------
    def _by_tag(
        self,
        op: str,
        key: str,
        domain_tag: str,
        domain: str,
        name: str,
        extra: Sequence[dict[str, Any]] = (),
    ) -> list[dict[str, Any]]:
        r = self.call(
            "ec2",
            op,
            Filters=[
                {"Name": f"tag:{domain_tag}", "Values": [domain]},
                {"Name": "tag:Name", "Values": [name]},
                *extra,
            ],
        )
        return list(r.get(key, []))

    def find_vpc(self, domain_tag: str, domain: str, name: str) -> dict[str, Any] | None:
        found = self.vpcs_named(domain_tag, domain, name)
        return found[0] if found else None

    def vpcs_named(self, domain_tag: str, domain: str, name: str) -> list[dict[str, Any]]:
        """Every VPC carrying the site's tags (more than one after a lost create)."""
        return sorted(
            self._by_tag("describe_vpcs", "Vpcs", domain_tag, domain, name),
            key=lambda v: str(v["VpcId"]),
        )

    def find_subnets(self, vpc_id: str) -> list[dict[str, Any]]:
        r = self.call("ec2", "describe_subnets", Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])
        return list(r.get("Subnets", []))

    def availability_zones(self) -> list[str]:
        """Ordinary availability zones only, by name: opted-in Local Zones and
        Wavelength Zones are listed too (ZoneType local-zone / wavelength-zone)
        and sort first, but cannot hold a load balancer's subnets.
        https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_AvailabilityZone.html
        A zone without ZoneType (older endpoints, the emulator) is an ordinary one."""
        return sorted(name for name, kind in self.zones_listed() if kind == "availability-zone")

    def zones_listed(self) -> list[tuple[str, str]]:
        """Every available zone of the region: (ZoneName, ZoneType)."""
        r = self.call(
            "ec2",
            "describe_availability_zones",
            Filters=[{"Name": "state", "Values": ["available"]}],
        )
        return [
            (str(z["ZoneName"]), str(z.get("ZoneType", "availability-zone")))
            for z in r.get("AvailabilityZones", [])
        ]

    def create_vpc(self, cidr: str, tags: dict[str, str]) -> str:
        """Create a VPC tagged at creation. CreateVpc takes no client token: a
        response lost on the way is found by its tags, never sent twice blindly."""
        name = tags.get("Name", "")
        domain_tag, domain = next((k, v) for k, v in tags.items() if k != "Name")

        def find() -> str | None:
            found = self.vpcs_named(domain_tag, domain, name)
            return str(found[0]["VpcId"]) if found else None

        r = self.call_once(
            "ec2", "create_vpc", find, CidrBlock=cidr, TagSpecifications=tag_spec("vpc", tags)
        )
        return r if isinstance(r, str) else str(r["Vpc"]["VpcId"])

    def vpc_dns(self, vpc_id: str) -> dict[str, bool]:
        """enableDnsSupport and enableDnsHostnames of a VPC (a private hosted
        zone needs both), read at once (one attribute a call)."""

        def on(key: str) -> bool:  # EnableDnsSupport: attribute enableDnsSupport
            attribute = key[0].lower() + key[1:]
            r = self.call("ec2", "describe_vpc_attribute", VpcId=vpc_id, Attribute=attribute)
            return bool(r.get(key, {}).get("Value"))

        keys = ("EnableDnsSupport", "EnableDnsHostnames")
        return dict(zip(keys, self.parallel(*[(lambda k=k: on(k)) for k in keys])))

    def set_vpc_dns(self, vpc_id: str, key: str) -> None:
        self.call("ec2", "modify_vpc_attribute", VpcId=vpc_id, **{key: {"Value": True}})

    def create_subnet(self, vpc_id: str, cidr: str, az: str, tags: dict[str, str]) -> str:
        """Create a subnet tagged at creation. A retry of a create that AWS acted
        on answers InvalidSubnet.Conflict (the range is taken): found by range."""

        def find() -> str | None:
            for sn in self.find_subnets(vpc_id):
                if sn["CidrBlock"] == cidr:
                    return str(sn["SubnetId"])
            return None

        try:
            r = self.call_once(
                "ec2",
                "create_subnet",
                find,
                VpcId=vpc_id,
                CidrBlock=cidr,
                AvailabilityZone=az,
                TagSpecifications=tag_spec("subnet", tags),
            )
        except AwsError as e:
            found = find() if e.code == "InvalidSubnet.Conflict" else None
            if found is None:
                raise
            return found
        return r if isinstance(r, str) else str(r["Subnet"]["SubnetId"])

    def set_public_ip_on_launch(self, subnet_id: str, value: bool) -> None:
        self.call(
            "ec2",
            "modify_subnet_attribute",
            SubnetId=subnet_id,
            MapPublicIpOnLaunch={"Value": value},
        )

    def internet_gateway_of(self, vpc_id: str) -> str | None:
        r = self.call(
            "ec2",
            "describe_internet_gateways",
            Filters=[{"Name": "attachment.vpc-id", "Values": [vpc_id]}],
        )
        igws = r.get("InternetGateways", [])
        return str(igws[0]["InternetGatewayId"]) if igws else None

    def internet_gateways_tagged(self, domain_tag: str, domain: str) -> list[dict[str, Any]]:
        """The site's internet gateways, attached or not, oldest id first."""
        r = self.call(
            "ec2",
            "describe_internet_gateways",
            Filters=[{"Name": f"tag:{domain_tag}", "Values": [domain]}],
        )
        return sorted(r.get("InternetGateways", []), key=lambda g: str(g["InternetGatewayId"]))

    def create_internet_gateway(self, tags: dict[str, str]) -> str:
        """Create an internet gateway tagged at creation (no client token: a
        lost response is found by the tags)."""
        domain_tag, domain = next((k, v) for k, v in tags.items() if k != "Name")

        def find() -> str | None:
            free = [
                g
                for g in self.internet_gateways_tagged(domain_tag, domain)
                if not g.get("Attachments")
            ]
            return str(free[0]["InternetGatewayId"]) if free else None

        r = self.call_once(
            "ec2",
            "create_internet_gateway",
            find,
            TagSpecifications=tag_spec("internet-gateway", tags),
        )
        return r if isinstance(r, str) else str(r["InternetGateway"]["InternetGatewayId"])

    def attach_internet_gateway(self, igw: str, vpc_id: str) -> None:
        try:
            self.call("ec2", "attach_internet_gateway", InternetGatewayId=igw, VpcId=vpc_id)
        except AwsError as e:
            # a retry of an attach that AWS made: the gateway is attached already
            if e.code != "Resource.AlreadyAssociated" or self.internet_gateway_of(vpc_id) != igw:
                raise

    def route_tables(self, vpc_id: str) -> list[dict[str, Any]]:
        r = self.call(
            "ec2", "describe_route_tables", Filters=[{"Name": "vpc-id", "Values": [vpc_id]}]
        )
        return list(r.get("RouteTables", []))

    def create_route_table(self, vpc_id: str, tags: dict[str, str]) -> str:
        """Create a route table tagged at creation, with a client token fixed per
        intended table (the VPC and the name: a table made again in a new VPC
        gets another); a lost response is also found by its Name tag (the
        emulator ignores ClientToken).
        https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-idempotency.html"""
        import hashlib

        name = tags.get("Name", "")
        token = hashlib.sha256(f"{vpc_id}|{name}".encode()).hexdigest()[:64]

        def find() -> str | None:
            for t in self.route_tables(vpc_id):
                if tag_value(t.get("Tags"), "Name") == name:
                    return str(t["RouteTableId"])
            return None

        r = self.call_once(
            "ec2",
            "create_route_table",
            find,
            ClientToken=token,
            VpcId=vpc_id,
            TagSpecifications=tag_spec("route-table", tags),
        )
        return r if isinstance(r, str) else str(r["RouteTable"]["RouteTableId"])

    def add_default_route(self, route_table: str, igw: str, *, replace: bool = False) -> None:
        try:
            self.call(
                "ec2",
                "replace_route" if replace else "create_route",
                RouteTableId=route_table,
                DestinationCidrBlock="0.0.0.0/0",
                GatewayId=igw,
            )
        except AwsError as e:
            if e.code != "RouteAlreadyExists":
                raise
            # a retry of a create that AWS made: converged if it goes to igw
            r = self.call("ec2", "describe_route_tables", RouteTableIds=[route_table])
            routes = r["RouteTables"][0].get("Routes", [])
            if not any(
                x.get("DestinationCidrBlock") == "0.0.0.0/0" and x.get("GatewayId") == igw
                for x in routes
            ):
                raise

    def associate_route_table(self, route_table: str, subnet: str) -> None:
        try:
            self.call("ec2", "associate_route_table", RouteTableId=route_table, SubnetId=subnet)
        except AwsError as e:
            if e.code != "Resource.AlreadyAssociated" or not self._holds(route_table, subnet):
                raise

    def replace_route_table_association(
        self, association_id: str, route_table: str, subnet: str
    ) -> None:
        """Move ``subnet`` (its association ``association_id``) to ``route_table``.
        AWS gives the moved subnet a new association id
        (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ReplaceRouteTableAssociation.html):
        a retry after a lost response meets InvalidAssociationID.NotFound, and is
        done when the subnet is now in ``route_table``."""
        try:
            self.call(
                "ec2",
                "replace_route_table_association",
                AssociationId=association_id,
                RouteTableId=route_table,
            )
        except AwsError as e:
            if e.code != "InvalidAssociationID.NotFound" or not self._holds(route_table, subnet):
                raise

    def _holds(self, route_table: str, subnet: str) -> bool:
        """Whether ``subnet`` is associated with ``route_table`` (a retried
        association's first attempt made it)."""
        r = self.call("ec2", "describe_route_tables", RouteTableIds=[route_table])
        return any(a.get("SubnetId") == subnet for a in r["RouteTables"][0].get("Associations", []))

    # -- security groups ----------------------------------------------------
    def find_security_group(self, vpc_id: str, name: str) -> dict[str, Any] | None:
        ahead = self.taken_ahead(f"security-group:{name}")
        if ahead is not None and ahead.exception() is None:
            mine = [g for g in ahead.result() if g.get("VpcId") == vpc_id]
            if len(mine) == 1:
                return dict(mine[0])
        groups = self.security_groups_named(vpc_id, [name])
        return groups[0] if groups else None

    def read_security_group_ahead(self, name: str) -> None:
        """Start reading the security groups named ``name`` (in any VPC) now,
        in the background: the next ``find_security_group`` of that name takes
        the one in its VPC from the answer, or reads again (an error, or not
        exactly one there). Group ids are configuration, not state."""
        self.read_ahead(
            f"security-group:{name}",
            lambda: self.call(
                "ec2",
                "describe_security_groups",
                Filters=[{"Name": "group-name", "Values": [name]}],
            ).get("SecurityGroups", []),
        )

    def security_groups_named(self, vpc_id: str, names: Sequence[str]) -> list[dict[str, Any]]:
        r = self.call(
            "ec2",
            "describe_security_groups",
            Filters=[
                {"Name": "vpc-id", "Values": [vpc_id]},
                {"Name": "group-name", "Values": list(names)},
            ],
        )
        return list(r.get("SecurityGroups", []))

    def create_security_group(
        self, vpc_id: str, name: str, description: str, tags: dict[str, str]
    ) -> str:
        """Group names are unique in a VPC: a retry of a create AWS acted on
        answers InvalidGroup.Duplicate, and the group is found by name."""
        try:
            r = self.call(
                "ec2",
                "create_security_group",
                GroupName=name,
                Description=description,
                VpcId=vpc_id,
                TagSpecifications=tag_spec("security-group", tags),
            )
        except AwsError as e:
            found = self.find_security_group(vpc_id, name) if "Duplicate" in e.code else None
            if found is None:
                raise
            return str(found["GroupId"])
        return str(r["GroupId"])

    def authorize_ingress(self, group_id: str, permissions: Sequence[dict[str, Any]]) -> None:
        # a retry of a rule AWS added: it is there already
        self._ingress(
            "authorize_security_group_ingress", "InvalidPermission.Duplicate", group_id, permissions
        )

    def revoke_ingress(self, group_id: str, permissions: Sequence[dict[str, Any]]) -> None:
        # a retry of a revoke AWS made: the rule is gone already
        self._ingress(
            "revoke_security_group_ingress", "InvalidPermission.NotFound", group_id, permissions
        )

    def _ingress(
        self, operation: str, done: str, group_id: str, permissions: Sequence[dict[str, Any]]
    ) -> None:
        """Add or remove inbound rules; ``done``: the error code saying a rule
        is already as wanted (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_AuthorizeSecurityGroupIngress.html).
        Part of a batch may be so and part not: then the rules go one by one."""
        if not permissions:
            return
        try:
            self.call("ec2", operation, GroupId=group_id, IpPermissions=list(permissions))
        except AwsError as e:
            if e.code != done:
                raise
            if len(permissions) > 1 or _sources(permissions[0]) > 1:
                for p in _split(permissions):
                    self._ingress(operation, done, group_id, [p])


_SOURCE_KEYS = ("IpRanges", "Ipv6Ranges", "UserIdGroupPairs", "PrefixListIds")


def _sources(p: dict[str, Any]) -> int:
    return sum(len(p.get(k, [])) for k in _SOURCE_KEYS)


def _split(permissions: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each permission with one source only."""
    out = []
    for p in permissions:
        head = {k: v for k, v in p.items() if k not in _SOURCE_KEYS}
        for k in _SOURCE_KEYS:
            for src in p.get(k, []):
                out.append({**head, k: [src]})
    return out
