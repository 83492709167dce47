"""The AWS-fidelity layer itself: each documented AWS behaviour it adds to the
emulator, seen through plain boto3 calls (the layer's own clock is the test's
fake clock, so its delays pass when the test advances it)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from layered import Real

REGION = "us-east-1"


def aws(real: Real, service: str, region: str = REGION) -> Any:
    """A client that does not retry: the test sees each answer."""
    return boto3.client(
        service,
        endpoint_url=real.url,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1}),
    )


def code(e: pytest.ExceptionInfo[ClientError]) -> str:
    return str(e.value.response["Error"]["Code"])


def network(real: Real) -> tuple[str, str]:
    ec2 = aws(real, "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/20", AvailabilityZone="us-east-1a")
    image = ec2.register_image(Name="base", RootDeviceName="/dev/xvda", BlockDeviceMappings=[])
    return subnet["Subnet"]["SubnetId"], image["ImageId"]


def test_new_instance_profile_is_refused_until_it_propagates(real: Real) -> None:
    iam, asg = aws(real, "iam"), aws(real, "autoscaling")
    _, image = network(real)
    iam.create_instance_profile(InstanceProfileName="web")
    with pytest.raises(ClientError) as e:
        asg.create_launch_configuration(
            LaunchConfigurationName="lc", ImageId=image, InstanceType="t3.micro",
            IamInstanceProfile="web",
        )  # fmt: skip
    assert code(e) == "ValidationError"
    assert "Invalid IamInstanceProfile: web" in str(e.value)
    assert asg.describe_launch_configurations()["LaunchConfigurations"] == []
    real.clock.advance(real.layer.timings.profile_propagation)
    asg.create_launch_configuration(
        LaunchConfigurationName="lc", ImageId=image, InstanceType="t3.micro",
        IamInstanceProfile="web",
    )  # fmt: skip
    # A repeated create answers AlreadyExists (moto would replace it), a delete
    # of a missing one ValidationError (moto would succeed).
    with pytest.raises(ClientError) as e:
        asg.create_launch_configuration(
            LaunchConfigurationName="lc", ImageId=image, InstanceType="t3.micro"
        )
    assert code(e) == "AlreadyExists"
    with pytest.raises(ClientError) as e:
        asg.delete_launch_configuration(LaunchConfigurationName="nope")
    assert code(e) == "ValidationError"


def test_table_is_creating_before_active(real: Real) -> None:
    ddb = aws(real, "dynamodb")
    ddb.create_table(
        TableName="t",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    assert ddb.describe_table(TableName="t")["Table"]["TableStatus"] == "CREATING"
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName="t", Item={"pk": {"S": "a"}})
    assert code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        ddb.delete_table(TableName="t")
    assert code(e) == "ResourceInUseException"
    real.clock.advance(real.layer.timings.table_creation)
    assert ddb.describe_table(TableName="t")["Table"]["TableStatus"] == "ACTIVE"
    ddb.put_item(TableName="t", Item={"pk": {"S": "a"}})


def test_route53_changes_pending_then_insync_zones_and_records(real: Real) -> None:
    r53 = aws(real, "route53")
    zone = r53.create_hosted_zone(Name="example.com", CallerReference="ref-1")
    assert zone["ChangeInfo"]["Status"] == "PENDING"
    with pytest.raises(ClientError) as e:
        r53.create_hosted_zone(Name="example.com", CallerReference="ref-1")
    assert code(e) == "HostedZoneAlreadyExists"
    assert len(r53.list_hosted_zones()["HostedZones"]) == 1
    zid = zone["HostedZone"]["Id"]
    rrs = {
        "Name": "www.example.com",
        "Type": "A",
        "TTL": 60,
        "ResourceRecords": [{"Value": "1.2.3.4"}],
    }
    change = r53.change_resource_record_sets(
        HostedZoneId=zid, ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": rrs}]}
    )["ChangeInfo"]
    assert change["Status"] == "PENDING"
    real.settle(real.layer.timings.dns_propagation - 1)
    assert r53.get_change(Id=change["Id"])["ChangeInfo"]["Status"] == "PENDING"
    real.settle(1)
    assert r53.get_change(Id=change["Id"])["ChangeInfo"]["Status"] == "INSYNC"
    delete = {"Changes": [{"Action": "DELETE", "ResourceRecordSet": rrs}]}
    r53.change_resource_record_sets(HostedZoneId=zid, ChangeBatch=delete)
    real.settle()
    with pytest.raises(ClientError) as e:
        r53.change_resource_record_sets(HostedZoneId=zid, ChangeBatch=delete)
    assert code(e) == "InvalidChangeBatch"


def test_route53_answers_five_requests_a_second(real: Real) -> None:
    r53 = aws(real, "route53")
    real.settle()
    for _ in range(5):
        r53.list_hosted_zones()
    with pytest.raises(ClientError) as e:
        r53.list_hosted_zones()
    assert code(e) == "Throttling"
    real.settle(0.2)  # one more request's worth
    r53.list_hosted_zones()


def test_instances_boot_and_pass_health_checks_launches_fail(real: Real) -> None:
    ec2, asg, elb = aws(real, "ec2"), aws(real, "autoscaling"), aws(real, "elb")
    subnet, image = network(real)
    elb.create_load_balancer(
        LoadBalancerName="lb",
        Listeners=[{"Protocol": "HTTP", "LoadBalancerPort": 80, "InstancePort": 80}],
        Subnets=[subnet],
    )
    described = elb.describe_load_balancers()["LoadBalancerDescriptions"][0]
    assert described["CanonicalHostedZoneNameID"] == "Z35SXDOTRQ7X7K"
    ec2.create_launch_template(
        LaunchTemplateName="good", LaunchTemplateData={"ImageId": image, "InstanceType": "t3.micro"}
    )
    asg.create_auto_scaling_group(
        AutoScalingGroupName="g", LaunchTemplate={"LaunchTemplateName": "good", "Version": "1"},
        MinSize=1, MaxSize=1, DesiredCapacity=1, VPCZoneIdentifier=subnet,
        LoadBalancerNames=["lb"],
    )  # fmt: skip
    t = real.layer.timings

    def states() -> tuple[str, str, str]:
        g = asg.describe_auto_scaling_groups()["AutoScalingGroups"][0]["Instances"][0]
        h = elb.describe_instance_health(LoadBalancerName="lb")["InstanceStates"][0]["State"]
        i = ec2.describe_instances(InstanceIds=[g["InstanceId"]])["Reservations"][0]
        return g["LifecycleState"], i["Instances"][0]["State"]["Name"], h

    assert states() == ("Pending", "pending", "OutOfService")
    real.clock.advance(t.boot)
    assert states() == ("InService", "running", "OutOfService")
    real.clock.advance(t.health_checks)
    assert states() == ("InService", "running", "InService")
    with pytest.raises(ClientError) as e:  # AWS: AlreadyExists; moto would replace it
        asg.create_auto_scaling_group(
            AutoScalingGroupName="g", LaunchTemplate={"LaunchTemplateName": "good"},
            MinSize=1, MaxSize=1, VPCZoneIdentifier=subnet,
        )  # fmt: skip
    assert code(e) == "AlreadyExists"

    real.layer.faults.instance_types.add("x9.huge")
    ec2.create_launch_template(
        LaunchTemplateName="bad", LaunchTemplateData={"ImageId": image, "InstanceType": "x9.huge"}
    )
    asg.create_auto_scaling_group(
        AutoScalingGroupName="b", LaunchTemplate={"LaunchTemplateName": "bad", "Version": "1"},
        MinSize=2, MaxSize=2, DesiredCapacity=2, VPCZoneIdentifier=subnet,
    )  # fmt: skip
    g = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["b"])["AutoScalingGroups"][0]
    assert (g["DesiredCapacity"], g["MinSize"], g["Instances"]) == (2, 2, [])
    activity = asg.describe_scaling_activities(AutoScalingGroupName="b")["Activities"][0]
    assert activity["StatusCode"] == "Failed"
    assert "Launching EC2 instance failed" in activity["StatusMessage"]

    # A group with a running instance pointed at an image whose launches fail
    # keeps the instance; its replacement fails, and works again once the
    # group is pointed back.
    real.layer.faults.images.add("ami-broken")
    ec2.create_launch_template_version(
        LaunchTemplateName="good", SourceVersion="1", LaunchTemplateData={"ImageId": "ami-broken"}
    )
    asg.update_auto_scaling_group(
        AutoScalingGroupName="g", LaunchTemplate={"LaunchTemplateName": "good", "Version": "2"}
    )
    (member,) = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["g"])["AutoScalingGroups"][
        0
    ]["Instances"]
    asg.terminate_instance_in_auto_scaling_group(
        InstanceId=member["InstanceId"], ShouldDecrementDesiredCapacity=False
    )
    g = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["g"])["AutoScalingGroups"][0]
    assert (g["DesiredCapacity"], g["Instances"]) == (1, [])
    activity = asg.describe_scaling_activities(AutoScalingGroupName="g")["Activities"][0]
    assert activity["StatusCode"] == "Failed"
    assert "Client.InternalError" in activity["StatusMessage"]
    asg.update_auto_scaling_group(
        AutoScalingGroupName="g", LaunchTemplate={"LaunchTemplateName": "good", "Version": "1"}
    )
    g = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["g"])["AutoScalingGroups"][0]
    assert g["DesiredCapacity"] == 1 and len(g["Instances"]) == 1
    activity = asg.describe_scaling_activities(AutoScalingGroupName="g")["Activities"][0]
    assert activity["StatusCode"] == "Successful"


def test_auto_scaling_retries_failed_launches(real: Real) -> None:
    """No capacity for the instance type for a minute: a Failed activity per
    attempt (every ``launch_retry`` seconds) while it lasts, then the group
    fills up. A cause that lasts (an image it may not use) fails every retry."""
    ec2, asg = aws(real, "ec2"), aws(real, "autoscaling")
    subnet, image = network(real)
    retry = real.layer.timings.launch_retry
    real.layer.faults.capacity["t3.micro"] = real.clock.now() + 2 * retry
    real.layer.faults.images.add("ami-broken")
    for name, ami in (("short", image), ("broken", "ami-broken")):
        ec2.create_launch_template(
            LaunchTemplateName=name, LaunchTemplateData={"ImageId": ami, "InstanceType": "m5.large"}
        )
    ec2.create_launch_template_version(
        LaunchTemplateName="short",
        SourceVersion="1",
        LaunchTemplateData={"InstanceType": "t3.micro"},
    )
    for name, version in (("short", "2"), ("broken", "1")):
        asg.create_auto_scaling_group(
            AutoScalingGroupName=name, LaunchTemplate={"LaunchTemplateName": name, "Version": version},
            MinSize=2, MaxSize=2, DesiredCapacity=2, VPCZoneIdentifier=subnet,
        )  # fmt: skip

    def seen(group: str) -> tuple[list[str], int]:
        acts = asg.describe_scaling_activities(AutoScalingGroupName=group)["Activities"]
        g = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"]
        return [a["StatusCode"] for a in acts], len(g[0]["Instances"])

    assert seen("short") == (["Failed"], 0)
    reason = asg.describe_scaling_activities(AutoScalingGroupName="short")["Activities"][0]
    assert "We currently do not have sufficient t3.micro capacity" in reason["StatusMessage"]
    real.clock.advance(retry / 2)
    assert seen("short") == (["Failed"], 0)  # not yet retried
    real.clock.advance(retry / 2)
    assert seen("short") == (["Failed", "Failed"], 0)  # still short
    real.clock.advance(retry)
    assert seen("short") == (["Successful", "Failed", "Failed"], 2)  # capacity is back
    assert seen("broken") == (["Failed"] * 3, 0)  # once at creation, twice retried


def test_client_tokens_and_opt_in_zones(real: Real) -> None:
    ec2 = aws(real, "ec2")
    _, image = network(real)
    data = {"ImageId": image, "InstanceType": "t3.micro"}
    first = ec2.create_launch_template(
        LaunchTemplateName="tpl", LaunchTemplateData=data, ClientToken="tok"
    )
    ec2.delete_launch_template(LaunchTemplateName="tpl")
    again = ec2.create_launch_template(
        LaunchTemplateName="tpl", LaunchTemplateData=data, ClientToken="tok"
    )
    assert (
        again["LaunchTemplate"]["LaunchTemplateId"] == first["LaunchTemplate"]["LaunchTemplateId"]
    )
    assert ec2.describe_launch_templates()["LaunchTemplates"] == []  # the original answer only
    with pytest.raises(ClientError) as e:
        ec2.create_launch_template(
            LaunchTemplateName="tpl", LaunchTemplateData={**data, "InstanceType": "t3.small"},
            ClientToken="tok",
        )  # fmt: skip
    assert code(e) == "IdempotentParameterMismatch"

    zones = ec2.describe_availability_zones()["AvailabilityZones"]
    assert [z["ZoneType"] for z in zones[:2]] == ["local-zone", "wavelength-zone"]
    assert zones[0]["ZoneName"] == "us-east-1-bos-1a"
    ordinary = ec2.describe_availability_zones(
        Filters=[{"Name": "zone-type", "Values": ["availability-zone"]}]
    )["AvailabilityZones"]
    assert ordinary and {z["ZoneType"] for z in ordinary} == {"availability-zone"}
    far = aws(real, "ec2", "eu-north-1").describe_availability_zones()["AvailabilityZones"]
    assert far[0]["ZoneType"] == "local-zone"
