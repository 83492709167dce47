"""Auto Scaling: groups and launch configurations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bluegreen.aws.base import BaseGateway
from bluegreen.errors import AwsError


def _tags(tags: dict[str, str], group: str, propagate: bool = True) -> list[dict[str, Any]]:
    return [
        {
            "ResourceId": group,
            "ResourceType": "auto-scaling-group",
            "Key": k,
            "Value": v,
            "PropagateAtLaunch": propagate,
        }
        for k, v in tags.items()
    ]


class AutoScalingCalls(BaseGateway):
    def groups_tagged(self, key: str, value: str) -> list[dict[str, Any]]:
        """Groups carrying tag ``key=value``: a server-side filter, not a scan."""
        return list(
            self.pages(
                "autoscaling",
                "describe_auto_scaling_groups",
                "AutoScalingGroups",
                Filters=[{"Name": f"tag:{key}", "Values": [value]}],
                PaginationConfig={"PageSize": 100},
            )
        )

    def groups_named(self, names: Sequence[str]) -> list[dict[str, Any]]:
        if not names:
            return []
        r = self.call(
            "autoscaling", "describe_auto_scaling_groups", AutoScalingGroupNames=list(names)
        )
        return list(r.get("AutoScalingGroups", []))

    def all_groups(self) -> list[dict[str, Any]]:
        """Every group in the region, paginated (100 a page, the most AWS
        allows), without their instances (``IncludeInstances``: smaller pages).
        AWS offers no filter for "groups using launch template X"
        (``DescribeAutoScalingGroups`` filters by tag only:
        https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_DescribeAutoScalingGroups.html)
        and EC2 deletes a launch template that a group still uses, so the
        in-use check before such a delete must read them all."""
        return list(
            self.pages(
                "autoscaling",
                "describe_auto_scaling_groups",
                "AutoScalingGroups",
                IncludeInstances=False,
                PaginationConfig={"PageSize": 100},
            )
        )

    def create_group(
        self,
        name: str,
        *,
        launch_template: tuple[str, str] | None,
        launch_configuration: str | None,
        capacity: int,
        max_size: int,
        subnets: Sequence[str],
        load_balancers: Sequence[str] = (),
        target_groups: Sequence[str] = (),
        grace_period: int,
        tags: dict[str, str],
    ) -> bool:
        """Create the group; False when a group of that name exists already
        (AWS answers AlreadyExists: an earlier run, or a retry whose first
        attempt's response was lost, created it)."""
        params: dict[str, Any] = {
            "AutoScalingGroupName": name,
            "MinSize": capacity,
            "MaxSize": max_size,
            "DesiredCapacity": capacity,
            "VPCZoneIdentifier": ",".join(subnets),
            "HealthCheckType": "ELB",
            "HealthCheckGracePeriod": grace_period,
            "Tags": _tags(tags, name),
        }
        if launch_template:
            params["LaunchTemplate"] = {
                "LaunchTemplateName": launch_template[0],
                "Version": launch_template[1],
            }
        else:
            params["LaunchConfigurationName"] = launch_configuration
        if load_balancers:
            params["LoadBalancerNames"] = list(load_balancers)
        if target_groups:
            params["TargetGroupARNs"] = list(target_groups)
        try:
            self.call("autoscaling", "create_auto_scaling_group", **params)
        except AwsError as e:
            if e.code != "AlreadyExists":
                raise
            return False
        return True

    def failed_launch(self, name: str) -> dict[str, Any] | None:
        """The group's newest scaling activity when it failed (or was cancelled),
        else None. A launch EC2 refuses (instance type, capacity, a KMS key the
        Auto Scaling service-linked role may not use) is reported nowhere else
        (https://docs.aws.amazon.com/autoscaling/ec2/userguide/ts-as-instancelaunchfailure.html).
        AWS lists activities newest first (those in progress before them,
        https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_DescribeScalingActivities.html);
        the sort keeps that order among activities started in the same second."""
        r = self.call(
            "autoscaling", "describe_scaling_activities", AutoScalingGroupName=name, MaxRecords=10
        )
        found = sorted(
            r.get("Activities", []), key=lambda a: str(a.get("StartTime", "")), reverse=True
        )
        if found and found[0].get("StatusCode") in ("Failed", "Cancelled"):
            return dict(found[0])
        return None

    def set_group_size(
        self,
        name: str,
        *,
        min_size: int | None = None,
        desired: int | None = None,
        max_size: int | None = None,
    ) -> None:
        params: dict[str, Any] = {"AutoScalingGroupName": name}
        if min_size is not None:
            params["MinSize"] = min_size
        if desired is not None:
            params["DesiredCapacity"] = desired
        if max_size is not None:
            params["MaxSize"] = max_size
        self.call("autoscaling", "update_auto_scaling_group", **params)

    def tag_group(self, name: str, tags: dict[str, str], *, propagate: bool = True) -> None:
        self.call("autoscaling", "create_or_update_tags", Tags=_tags(tags, name, propagate))

    def delete_group(self, name: str) -> bool:
        """Delete, terminating its instances. Already gone is success (False)."""
        try:
            self.call(
                "autoscaling",
                "delete_auto_scaling_group",
                AutoScalingGroupName=name,
                ForceDelete=True,
            )
        except AwsError as e:
            if not ("not found" in e.message.lower() or e.code == "ValidationError"):
                raise
            return False
        return True

    def attach_load_balancers(self, group: str, names: Sequence[str]) -> None:
        self.call(
            "autoscaling",
            "attach_load_balancers",
            AutoScalingGroupName=group,
            LoadBalancerNames=list(names),
        )

    def detach_load_balancers(self, group: str, names: Sequence[str]) -> None:
        self.call(
            "autoscaling",
            "detach_load_balancers",
            AutoScalingGroupName=group,
            LoadBalancerNames=list(names),
        )

    def attach_target_groups(self, group: str, arns: Sequence[str]) -> None:
        self.call(
            "autoscaling",
            "attach_load_balancer_target_groups",
            AutoScalingGroupName=group,
            TargetGroupARNs=list(arns),
        )

    def detach_target_groups(self, group: str, arns: Sequence[str]) -> None:
        self.call(
            "autoscaling",
            "detach_load_balancer_target_groups",
            AutoScalingGroupName=group,
            TargetGroupARNs=list(arns),
        )

    def terminate_in_group(self, instance_id: str) -> bool:
        """Terminate an instance of a group, which launches its replacement.
        False when Auto Scaling answers that the instance is no longer one it
        manages or no longer InService: its termination is already under way
        (the retry of a call whose answer was lost, a re-run after a kill, or
        a replacement Auto Scaling started itself). AWS documents no
        idempotency token for this call; these ValidationError answers are
        the ones it gives for an instance leaving or gone from its group
        (https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_TerminateInstanceInAutoScalingGroup.html)."""
        try:
            self.call(
                "autoscaling",
                "terminate_instance_in_auto_scaling_group",
                InstanceId=instance_id,
                ShouldDecrementDesiredCapacity=False,
            )
        except AwsError as e:
            text = e.message.lower()
            leaving = "no managed instance" in text or "not in inservice" in text
            if e.code != "ValidationError" or not leaving:
                raise
            return False
        return True

    def set_group_launch(
        self, name: str, *, template: tuple[str, str] | None, configuration: str | None
    ) -> None:
        """Point the group at a pinned launch template version or a configuration.
        Running instances keep theirs; new instances use the new one."""
        params: dict[str, Any] = {"AutoScalingGroupName": name}
        if template is not None:
            params["LaunchTemplate"] = {"LaunchTemplateName": template[0], "Version": template[1]}
        else:
            params["LaunchConfigurationName"] = configuration
        self.call("autoscaling", "update_auto_scaling_group", **params)

    def untag_group(self, name: str, keys: Sequence[str]) -> None:
        if keys:
            self.call(
                "autoscaling",
                "delete_tags",
                Tags=[
                    {"ResourceId": name, "ResourceType": "auto-scaling-group", "Key": k}
                    for k in keys
                ],
            )

    # -- launch configurations ---------------------------------------------
    def launch_configurations(self, names: Sequence[str]) -> list[dict[str, Any]]:
        r = self.call(
            "autoscaling", "describe_launch_configurations", LaunchConfigurationNames=list(names)
        )
        return list(r.get("LaunchConfigurations", []))

    def all_launch_configurations(self) -> list[dict[str, Any]]:
        return list(
            self.pages("autoscaling", "describe_launch_configurations", "LaunchConfigurations")
        )

    def create_launch_configuration(
        self,
        name: str,
        *,
        ami: str,
        instance_type: str,
        security_groups: Sequence[str],
        instance_profile: str,
        key_name: str | None,
        user_data: str | None,
        root_device: str = "/dev/xvda",
        root_size: int = 8,
    ) -> bool:
        """Create the configuration; False when one of that name exists already
        (AWS answers AlreadyExists: an earlier run, or a retry whose first
        attempt's response was lost, created it:
        https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_CreateLaunchConfiguration.html).
        Configurations cannot be changed, and their names are the release's."""
        params: dict[str, Any] = {
            "LaunchConfigurationName": name,
            # the root volume encrypted (with the account's default EBS key:
            # launch configurations cannot name a KMS key)
            "BlockDeviceMappings": [
                {
                    "DeviceName": root_device,
                    "Ebs": {
                        "Encrypted": True,
                        "VolumeType": "gp3",
                        "VolumeSize": root_size,
                        "DeleteOnTermination": True,
                    },
                }
            ],
            "ImageId": ami,
            "InstanceType": instance_type,
            "SecurityGroups": list(security_groups),
            "IamInstanceProfile": instance_profile,
            "MetadataOptions": {
                "HttpTokens": "required",
                "HttpPutResponseHopLimit": 1,
                "HttpEndpoint": "enabled",
            },
            "AssociatePublicIpAddress": True,
        }
        if key_name:
            params["KeyName"] = key_name
        if user_data:
            from bluegreen.secrets import add_secret

            add_secret(user_data)  # never shown, not even in botocore's debug log
            params["UserData"] = user_data
        try:
            self.call("autoscaling", "create_launch_configuration", **params)
        except AwsError as e:
            if e.code != "AlreadyExists":
                raise
            return False
        return True

    def delete_launch_configuration(self, name: str) -> bool:
        """Delete the configuration; False when it is gone already (AWS answers
        ValidationError "Launch configuration name not found"). One that a
        group still uses is refused with ResourceInUse, which is raised
        (https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_DeleteLaunchConfiguration.html,
        https://docs.aws.amazon.com/autoscaling/ec2/APIReference/CommonErrors.html)."""
        try:
            self.call("autoscaling", "delete_launch_configuration", LaunchConfigurationName=name)
        except AwsError as e:
            if e.code != "ValidationError" or "not found" not in e.message.lower():
                raise
            return False
        return True
