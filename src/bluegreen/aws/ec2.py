"""EC2: network, security group, key pair, images and launch templates."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from bluegreen.aws.base import BaseGateway
from bluegreen.errors import AwsError, NotFound, StateError


def tag_spec(resource: str, tags: dict[str, str]) -> list[dict[str, Any]]:
    return [{"ResourceType": resource, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]


def has_tags(tags: Sequence[dict[str, Any]] | None, want: dict[str, str]) -> bool:
    """``tags`` (AWS's Key/Value list) hold every pair of ``want``."""
    return all(tag_value(tags, k) == v for k, v in want.items())


def tag_value(tags: Sequence[dict[str, Any]] | None, key: str) -> str | None:
    for t in tags or ():
        if t["Key"] == key:
            return str(t["Value"])
    return None


class Ec2Calls(BaseGateway):
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
        zone needs both)."""
        out = {}
        for attr, key in (
            ("enableDnsSupport", "EnableDnsSupport"),
            ("enableDnsHostnames", "EnableDnsHostnames"),
        ):
            r = self.call("ec2", "describe_vpc_attribute", VpcId=vpc_id, Attribute=attr)
            out[key] = bool(r.get(key, {}).get("Value"))
        return out

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
            if e.code != "Resource.AlreadyAssociated":
                raise
            r = self.call("ec2", "describe_route_tables", RouteTableIds=[route_table])
            assoc = r["RouteTables"][0].get("Associations", [])
            if not any(a.get("SubnetId") == subnet for a in assoc):
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
            if e.code != "InvalidAssociationID.NotFound":
                raise
            r = self.call("ec2", "describe_route_tables", RouteTableIds=[route_table])
            assoc = r["RouteTables"][0].get("Associations", [])
            if not any(a.get("SubnetId") == subnet for a in assoc):
                raise

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
        if not permissions:
            return
        try:
            self.call(
                "ec2",
                "authorize_security_group_ingress",
                GroupId=group_id,
                IpPermissions=list(permissions),
            )
        except AwsError as e:
            if e.code != "InvalidPermission.Duplicate":
                raise
            # part of the batch may be new: add the rules one by one
            if len(permissions) > 1 or _sources(permissions[0]) > 1:
                for p in _split(permissions):
                    self.authorize_ingress(group_id, [p])

    def revoke_ingress(self, group_id: str, permissions: Sequence[dict[str, Any]]) -> None:
        if not permissions:
            return
        try:
            self.call(
                "ec2",
                "revoke_security_group_ingress",
                GroupId=group_id,
                IpPermissions=list(permissions),
            )
        except AwsError as e:
            # a retry of a revoke AWS made: the rule is gone already
            if e.code != "InvalidPermission.NotFound":
                raise
            if len(permissions) > 1 or _sources(permissions[0]) > 1:
                for p in _split(permissions):
                    self.revoke_ingress(group_id, [p])

    # -- key pair -----------------------------------------------------------
    def key_pair(self, name: str) -> dict[str, Any] | None:
        try:
            r = self.call("ec2", "describe_key_pairs", KeyNames=[name])
        except NotFound:
            return None
        pairs = r.get("KeyPairs", [])
        return dict(pairs[0]) if pairs else None

    def key_pair_exists(self, name: str) -> bool:
        return self.key_pair(name) is not None

    def create_key_pair(self, name: str, tags: dict[str, str]) -> str:
        """The new pair's private key. AWS returns it in CreateKeyPair's response
        only (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateKeyPair.html):
        a retry after a lost response meets InvalidKeyPair.Duplicate and the key
        is gone. A pair carrying ``tags`` (made by this site) is then deleted and
        made again; one without them is not this site's and is left alone."""
        for attempt in range(1, 4):
            try:
                r = self.call(
                    "ec2",
                    "create_key_pair",
                    KeyName=name,
                    TagSpecifications=tag_spec("key-pair", tags),
                )
                return str(r["KeyMaterial"])
            except AwsError as e:
                if e.code != "InvalidKeyPair.Duplicate" or attempt == 3:
                    raise
            pair = self.key_pair(name)
            if pair is not None and not has_tags(pair.get("Tags"), tags):
                raise StateError(
                    f"key pair {name} exists and was not made by bluegreen for this site",
                    found=f"key pair {name} ({pair.get('KeyPairId', '?')}) without the tags {tags}",
                    fix=f"delete or rename key pair {name} (`aws ec2 delete-key-pair "
                    f"--key-name {name}`), or run init without --key-pair",
                )
            self.call("ec2", "delete_key_pair", KeyName=name)
        raise AssertionError("unreachable")

    # -- images -------------------------------------------------------------
    def images(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        try:
            r = self.call("ec2", "describe_images", ImageIds=list(ids))
        except NotFound:
            return []
        return list(r.get("Images", []))

    def images_tagged(self, tags: dict[str, str]) -> list[dict[str, Any]]:
        r = self.call(
            "ec2",
            "describe_images",
            Owners=["self"],
            Filters=[{"Name": f"tag:{k}", "Values": [v]} for k, v in tags.items()],
        )
        return list(r.get("Images", []))

    def images_named(self, name: str) -> list[dict[str, Any]]:
        r = self.call(
            "ec2", "describe_images", Owners=["self"], Filters=[{"Name": "name", "Values": [name]}]
        )
        return list(r.get("Images", []))

    def create_tags(self, resources: Sequence[str], tags: dict[str, str]) -> None:
        self.call(
            "ec2",
            "create_tags",
            Resources=list(resources),
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )

    def deregister_image(self, image_id: str) -> bool:
        """Deregister an image; False when it was gone already."""
        try:
            self.call("ec2", "deregister_image", ImageId=image_id)
        except NotFound:
            return False
        except AwsError as e:
            if e.code != "InvalidAMIID.Unavailable":
                raise
            return False
        return True

    def snapshots_tagged(self, tags: dict[str, str]) -> list[str]:
        r = self.call(
            "ec2",
            "describe_snapshots",
            OwnerIds=["self"],
            Filters=[{"Name": f"tag:{k}", "Values": [v]} for k, v in tags.items()],
        )
        return [str(s["SnapshotId"]) for s in r.get("Snapshots", [])]

    def delete_snapshot(self, snapshot_id: str) -> bool:
        """Delete a snapshot; False when it was gone already."""
        try:
            self.call("ec2", "delete_snapshot", SnapshotId=snapshot_id)
        except NotFound:
            return False
        return True

    def instances_using(self, image_ids: Sequence[str]) -> dict[str, list[str]]:
        """image id -> instances (not terminated) launched from it: one filtered call."""
        if not image_ids:
            return {}
        out: dict[str, list[str]] = {}
        for res in self.pages(
            "ec2",
            "describe_instances",
            "Reservations",
            Filters=[
                {"Name": "image-id", "Values": list(image_ids)},
                {
                    "Name": "instance-state-name",
                    "Values": ["pending", "running", "stopping", "stopped"],
                },
            ],
        ):
            for i in res.get("Instances", []):
                if i.get("ImageId") in image_ids:
                    out.setdefault(str(i["ImageId"]), []).append(str(i["InstanceId"]))
        return out

    # -- launch templates ---------------------------------------------------
    def launch_template(self, name: str) -> dict[str, Any] | None:
        try:
            r = self.call("ec2", "describe_launch_templates", LaunchTemplateNames=[name])
        except (NotFound, AwsError) as e:
            if isinstance(e, NotFound) or "NotFound" in e.code or "does not exist" in e.message:
                return None
            raise
        lts = r.get("LaunchTemplates", [])
        return lts[0] if lts else None

    def create_launch_template(
        self,
        name: str,
        *,
        ami: str,
        instance_type: str,
        security_group_id: str,
        instance_profile: str,
        key_name: str | None,
        user_data: str | None,
        kms_key: str | None,
        tags: dict[str, str],
        client_token: str,
        root_device: str = "/dev/xvda",
        root_size: int = 8,
    ) -> int:
        """Create the template (idempotent by client token); returns its version number."""
        ebs: dict[str, Any] = {
            "Encrypted": True,
            "VolumeType": "gp3",
            "VolumeSize": root_size,
            "DeleteOnTermination": True,
        }
        if kms_key:
            ebs["KmsKeyId"] = kms_key
        data: dict[str, Any] = {
            "ImageId": ami,
            "InstanceType": instance_type,
            "SecurityGroupIds": security_group_id.split(","),  # one id, or several
            "IamInstanceProfile": {"Name": instance_profile},
            "MetadataOptions": {
                "HttpTokens": "required",
                "HttpPutResponseHopLimit": 1,
                "HttpEndpoint": "enabled",
            },
            "BlockDeviceMappings": [{"DeviceName": root_device, "Ebs": ebs}],
            "TagSpecifications": [
                {
                    "ResourceType": "instance",
                    "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
                },
            ],
        }
        if key_name:
            data["KeyName"] = key_name
        if user_data:
            from bluegreen.secrets import add_secret

            add_secret(user_data)  # never shown, not even in botocore's debug log
            data["UserData"] = base64.b64encode(user_data.encode()).decode()
        return self.create_launch_template_from_data(name, data, tags, client_token)

    def launch_templates_tagged(self, key: str, value: str) -> list[str]:
        """Names of the launch templates carrying tag ``key=value``."""
        r = self.call(
            "ec2",
            "describe_launch_templates",
            Filters=[{"Name": f"tag:{key}", "Values": [value]}],
        )
        return [str(t["LaunchTemplateName"]) for t in r.get("LaunchTemplates", [])]

    def launch_template_version(self, name: str, version: str) -> dict[str, Any]:
        """One version as described (its LaunchTemplateId, LaunchTemplateData...); {} if none."""
        r = self.call(
            "ec2", "describe_launch_template_versions", LaunchTemplateName=name, Versions=[version]
        )
        versions = r.get("LaunchTemplateVersions", [])
        return dict(versions[0]) if versions else {}

    def launch_template_data(self, name: str, version: str) -> dict[str, Any]:
        return dict(self.launch_template_version(name, version).get("LaunchTemplateData", {}))

    def delete_launch_template(self, name: str) -> bool:
        """Delete the template; False when there is none of that name."""
        try:
            self.call("ec2", "delete_launch_template", LaunchTemplateName=name)
        except AwsError as e:
            if "NotFound" in e.code or "does not exist" in e.message:
                return False
            # A retry whose first attempt deleted it may get another error
            # (the emulator says MissingParameter): gone is success.
            if self.launch_template(name) is not None:
                raise
            return False
        return True

    def all_launch_templates(self) -> list[dict[str, Any]]:
        return list(self.pages("ec2", "describe_launch_templates", "LaunchTemplates"))

    def template_versions_using(
        self, template_id: str, image_ids: Sequence[str]
    ) -> list[tuple[int, str]]:
        """(version number, image id) of every version of a template whose image is one
        of ``image_ids``. The filter runs in AWS; the result is checked here as well."""
        wanted = set(image_ids)
        found = []
        for v in self.pages(
            "ec2",
            "describe_launch_template_versions",
            "LaunchTemplateVersions",
            LaunchTemplateId=template_id,
            Filters=[{"Name": "image-id", "Values": sorted(wanted)}],
        ):
            image = v.get("LaunchTemplateData", {}).get("ImageId")
            if image in wanted:
                found.append((int(v["VersionNumber"]), str(image)))
        return found

    # -- instances ----------------------------------------------------------
    def instance_states(self, ids: Sequence[str]) -> dict[str, str]:
        if not ids:
            return {}
        r = self.call("ec2", "describe_instances", InstanceIds=list(ids))
        return {
            i["InstanceId"]: i["State"]["Name"]
            for res in r.get("Reservations", [])
            for i in res["Instances"]
        }

    # -- launch template versions (rolling) ----------------------------------
    def launch_template_versions(self, name: str) -> list[dict[str, Any]]:
        """Every version of a template, newest first."""
        found = list(
            self.pages(
                "ec2",
                "describe_launch_template_versions",
                "LaunchTemplateVersions",
                LaunchTemplateName=name,
            )
        )
        return sorted(found, key=lambda v: -int(v["VersionNumber"]))

    def create_launch_template_version(
        self,
        name: str,
        data: dict[str, Any],
        *,
        source_version: str | None,
        description: str,
        client_token: str,
    ) -> int:
        """A new numbered version: ``data`` over ``source_version`` (when given)."""
        params: dict[str, Any] = {
            "LaunchTemplateName": name,
            "LaunchTemplateData": data,
            "VersionDescription": description[:255],
            "ClientToken": client_token,
        }
        if source_version is not None:
            params["SourceVersion"] = source_version
        r = self.call("ec2", "create_launch_template_version", **params)
        return int(r["LaunchTemplateVersion"]["VersionNumber"])

    def create_launch_template_from_data(
        self, name: str, data: dict[str, Any], tags: dict[str, str], client_token: str
    ) -> int:
        """A new template whose version 1 is ``data``; idempotent by ``client_token``."""
        try:
            r = self.call(
                "ec2",
                "create_launch_template",
                LaunchTemplateName=name,
                LaunchTemplateData=data,
                ClientToken=client_token,
                TagSpecifications=tag_spec("launch-template", tags),
            )
        except AwsError as e:
            # AWS answers a retry with the same client token with the template;
            # an endpoint that ignores client tokens says it exists. Both mean
            # an earlier attempt (whose response was lost) created it.
            if "AlreadyExists" not in e.code:
                raise
            existing = self.launch_template(name)
            if existing is None:
                raise
            return int(existing["LatestVersionNumber"])
        return int(r["LaunchTemplate"]["LatestVersionNumber"])

    def instance_images(self, ids: Sequence[str]) -> dict[str, str]:
        """Instance id -> the image it runs (terminated instances left out)."""
        if not ids:
            return {}
        r = self.call("ec2", "describe_instances", InstanceIds=list(ids))
        return {
            i["InstanceId"]: i["ImageId"]
            for res in r.get("Reservations", [])
            for i in res["Instances"]
            if i["State"]["Name"] not in ("terminated", "shutting-down")
        }

    def instances_tagged(self, tags: dict[str, str]) -> list[str]:
        """Instances (not terminated) carrying every one of ``tags``."""
        return [
            str(i["InstanceId"])
            for res in self.pages(
                "ec2",
                "describe_instances",
                "Reservations",
                Filters=[
                    *({"Name": f"tag:{k}", "Values": [v]} for k, v in tags.items()),
                    {
                        "Name": "instance-state-name",
                        "Values": ["pending", "running", "stopping", "stopped"],
                    },
                ],
            )
            for i in res.get("Instances", [])
        ]

    def terminate_instances(self, ids: Sequence[str]) -> None:
        if ids:
            self.call("ec2", "terminate_instances", InstanceIds=list(ids))


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
