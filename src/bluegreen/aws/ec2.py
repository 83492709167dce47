"""EC2: key pair, images, launch templates and instances (the network and
security groups: ``bluegreen.aws.network``)."""

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

    def register_image(self, name: str, description: str, tags: dict[str, str]) -> str:
        """Register an 8 GiB x86_64 EBS image of the emulator's catalogue (the
        demo's and the tests' release images); tagged in a call of its own,
        since not every endpoint applies TagSpecifications to RegisterImage."""
        r = self.call(
            "ec2",
            "register_image",
            Name=name,
            Description=description,
            Architecture="x86_64",
            RootDeviceName="/dev/xvda",
            BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}],
            VirtualizationType="hvm",
        )
        image_id = str(r["ImageId"])
        self.create_tags([image_id], tags)
        return image_id

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
        security_group_ids: Sequence[str],
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
            "SecurityGroupIds": list(security_group_ids),
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
