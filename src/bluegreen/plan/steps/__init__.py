"""The steps every strategy composes. Small, idempotent and observable.

Each step is a frozen dataclass: ``describe()`` says what it will do (that is
what ``--dry-run`` prints) and ``apply(ctx)`` does it. A step that finds its
work already done succeeds without acting, which is what makes running a
command again after a crash safe: it skips what was done and finishes the rest.

Waits are steps too. They poll with backoff, through the context's clock, until
a deadline; on timeout they raise ``WaitTimeout`` naming what they saw last.

One module per kind: ``base`` (the Step, its Context, polling, the fixed wait),
``groups``, ``launches`` (a group's failed launches, as a wait judges them),
``records``, ``balancers``, ``gates`` (health checks) and ``capacity``.
"""

from bluegreen.plan.steps.balancers import AttachGroup, DetachGroup, SetForward, balancer_health
from bluegreen.plan.steps.base import (
    PROFILE_WAIT,
    WITH_FIRST_CHANGE,
    Context,
    Step,
    Wait,
    client_token,
    instance_groups,
    poll,
    retry_while_refused,
    wait_out_profile_propagation,
)
from bluegreen.plan.steps.capacity import MarkOutOfTraffic, PinMinSize, RestoreMinSize
from bluegreen.plan.steps.gates import CHECK_RETRY_INTERVAL, RunChecks, expand_url
from bluegreen.plan.steps.groups import (
    CreateGroup,
    CreateLaunchConfiguration,
    CreateLaunchTemplate,
    DeleteGroup,
    DeleteLaunchConfiguration,
    DeleteLaunchTemplate,
    SetGroupSize,
    WaitHealthy,
)
from bluegreen.plan.steps.launches import (
    LaunchWatch,
    StillRetrying,
    launch_failed,
    transient_failure,
)
from bluegreen.plan.steps.records import AliasTarget, Key, Record, RecordsChanged, SetAliases

__all__ = [
    "CHECK_RETRY_INTERVAL",
    "PROFILE_WAIT",
    "WITH_FIRST_CHANGE",
    "AliasTarget",
    "AttachGroup",
    "Context",
    "CreateGroup",
    "CreateLaunchConfiguration",
    "CreateLaunchTemplate",
    "DeleteGroup",
    "DeleteLaunchConfiguration",
    "DeleteLaunchTemplate",
    "DetachGroup",
    "Key",
    "LaunchWatch",
    "MarkOutOfTraffic",
    "PinMinSize",
    "Record",
    "RecordsChanged",
    "RestoreMinSize",
    "RunChecks",
    "SetAliases",
    "SetForward",
    "SetGroupSize",
    "Step",
    "StillRetrying",
    "Wait",
    "WaitHealthy",
    "balancer_health",
    "client_token",
    "expand_url",
    "instance_groups",
    "launch_failed",
    "poll",
    "retry_while_refused",
    "transient_failure",
    "wait_out_profile_propagation",
]
