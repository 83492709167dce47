"""The one gateway to AWS. Nothing outside this package calls boto3."""

from __future__ import annotations

from bluegreen.aws.access import AccessCalls
from bluegreen.aws.adopted import AdoptedCalls
from bluegreen.aws.autoscaling import AutoScalingCalls
from bluegreen.aws.cloudwatch import CloudWatchCalls
from bluegreen.aws.dynamodb import ConditionFailed, DynamoCalls
from bluegreen.aws.ec2 import Ec2Calls
from bluegreen.aws.elb import ElbCalls
from bluegreen.aws.iam import IamCalls
from bluegreen.aws.route53 import Route53Calls
from bluegreen.aws.ssm import SsmCalls
from bluegreen.aws.sts import StsCalls
from bluegreen.aws.teardown import TeardownCalls


class Gateway(
    Route53Calls,
    ElbCalls,
    AutoScalingCalls,
    Ec2Calls,
    IamCalls,
    DynamoCalls,
    CloudWatchCalls,
    SsmCalls,
    StsCalls,
    TeardownCalls,
    AccessCalls,
    AdoptedCalls,
):
    """Typed calls for every AWS service bluegreen uses, one mixin per service."""


__all__ = ["ConditionFailed", "Gateway"]
