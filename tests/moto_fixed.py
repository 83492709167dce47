"""``moto_server`` with one emulator bug fixed, where moto contradicts AWS and
the difference matters to the ``lb`` strategy (moto 5.2.5):

- ``autoscaling.detach_load_balancers`` deregisters the group's instances from
  *every* classic load balancer the group is attached to, not only from the
  ones named. AWS deregisters them only from the named ones. Switching a group
  between two classic load balancers (attach to live, then detach from staging)
  would otherwise empty the live one on the emulator only.

- ``update_attached_elbs`` (run whenever a group's size changes, e.g. when it
  is deleted) deregisters from each of its classic load balancers every
  instance that is not the group's own, including the instances of another
  group behind the same balancer. AWS leaves other groups' instances alone.
  ``deploy --replace`` (two groups behind staging while the old one is
  deleted) would otherwise empty staging on the emulator only.

- Route 53 change batches (``bluegreen.emulator.server.route53_as_aws``, which the
  sandbox and the demo apply too): a DELETE must name a record that exists
  with exactly those values, a CREATE one that does not exist, as in AWS.
  moto deletes whatever the values, and duplicates records on CREATE; the
  conditional batches that move traffic need AWS's answers.

- ``CreateAutoScalingGroup`` and ``CreateLaunchConfiguration`` of a name in use
  answer AlreadyExists, as AWS does; moto replaces the original. A
  ``DeleteLaunchConfiguration`` of a missing one answers ValidationError (not
  found), as AWS does; moto succeeds
  (``bluegreen.emulator.server.autoscaling_names_as_aws``).

- ``TerminateInstanceInAutoScalingGroup`` of an instance no longer in a group
  answers ValidationError, as AWS does
  (``bluegreen.emulator.server.autoscaling_terminate_as_aws``); moto fails
  with an internal error.

The whole suite runs on it (``conftest.emulator_url``), and so do the
benchmarks (``bench/benchlib.emulator``). Usage: ``python tests/moto_fixed.py -H 127.0.0.1 -p PORT``.
"""

from __future__ import annotations

import sys
from typing import Any

from moto.autoscaling import models
from moto.server import main

from bluegreen.emulator.server import (
    autoscaling_names_as_aws,
    autoscaling_terminate_as_aws,
    route53_as_aws,
)


def detach_load_balancers(self: Any, group_name: str, load_balancer_names: list[str]) -> None:
    group = self.autoscaling_groups[group_name]
    ids = {state.instance.id for state in group.instance_states}
    named = [n for n in load_balancer_names if n in group.load_balancer_names]
    for elb in self.elb_backend.describe_load_balancers(names=named) if named else []:
        self.elb_backend.deregister_instances(elb.name, ids, from_autoscaling=True)
    group.load_balancer_names = [
        x for x in group.load_balancer_names if x not in load_balancer_names
    ]


def update_attached_elbs(self: Any, group_name: str) -> None:
    group = self.autoscaling_groups[group_name]
    own = {state.instance.id for state in group.active_instances()}
    if not group.load_balancer_names:
        return
    try:
        elbs = self.elb_backend.describe_load_balancers(names=group.load_balancer_names)
    except Exception:  # deleted before their group, as in moto
        return
    for elb in elbs:
        others = {
            state.instance.id
            for g in self.autoscaling_groups.values()
            if g.name != group_name and elb.name in g.load_balancer_names
            for state in g.active_instances()
        }
        registered = set(elb.instance_ids)
        self.elb_backend.register_instances(elb.name, own - registered, from_autoscaling=True)
        self.elb_backend.deregister_instances(
            elb.name, registered - own - others, from_autoscaling=True
        )


models.AutoScalingBackend.detach_load_balancers = detach_load_balancers  # type: ignore[method-assign]
models.AutoScalingBackend.update_attached_elbs = update_attached_elbs  # type: ignore[method-assign]
route53_as_aws()
autoscaling_names_as_aws()
autoscaling_terminate_as_aws()

if __name__ == "__main__":
    main(sys.argv[1:])
