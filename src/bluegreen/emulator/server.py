"""The embedded AWS emulator (moto server) on 127.0.0.1.

``bluegreen sandbox`` runs it in the foreground for the other commands to use
with ``--endpoint-url``; ``bluegreen demo`` runs it inside its own process;
``python -m bluegreen.emulator.server PORT`` runs it alone (the Packer tests do).

Fidelity fixes applied (``fix_emulator``):

- moto reports every image it registers or creates with root device type
  ``standard`` (instance store), where AWS reports ``ebs`` for the EBS-backed
  images CreateImage makes. Packer's amazon-ebs builder refuses a source image
  that is not EBS-backed, so without the fix a release could not be baked on a
  base image baked before.
- Route 53 change batches as AWS applies them (``route53_as_aws``): moto
  deletes a record whatever values the DELETE names, duplicates one on a
  CREATE, and refuses a CREATE it has seen before even after its record was
  deleted; it also lists record sets in another order than AWS (without the
  trailing dot AWS sorts by). bluegreen moves traffic with conditional
  batches (DELETE what was observed, CREATE the new record), which need
  AWS's answers, and reads its names in one page, which needs AWS's order.
- a CreateAutoScalingGroup or CreateLaunchConfiguration of a name in use
  answers AlreadyExists, as in AWS, where moto replaces the original; a
  DeleteLaunchConfiguration of a missing one answers ValidationError (not
  found), where moto succeeds (``autoscaling_names_as_aws``).
- a TerminateInstanceInAutoScalingGroup of an instance no longer in a group
  answers ValidationError, as in AWS, where moto fails with an internal
  error (``autoscaling_terminate_as_aws``).
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from typing import Any

from bluegreen.clock import Clock
from bluegreen.errors import MissingProgram


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Emulator:
    server: Any
    port: int
    layer: Any = (
        None  # the fidelity layer (bluegreen.emulator.fidelity.Layer), when started with one
    )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.stop()


_FIXED: list[bool] = []


def fix_emulator() -> None:
    """Images the emulator registers or creates are EBS-backed, as in AWS (once per process).

    Images of moto's catalogue name their root device type themselves and keep it."""
    from moto.ec2.models import amis

    if _FIXED:
        return
    original: Any = amis.Ami.__init__

    def init(self: Any, *args: Any, root_device_type: str = "ebs", **kwargs: Any) -> None:
        original(self, *args, root_device_type=root_device_type, **kwargs)

    amis.Ami.__init__ = init  # type: ignore[method-assign]
    route53_as_aws()
    autoscaling_names_as_aws()
    autoscaling_terminate_as_aws()
    _FIXED.append(True)


_R53_FIXED: list[bool] = []


def route53_as_aws() -> None:
    """moto's ``ChangeResourceRecordSets`` made to validate and apply a batch
    as AWS does (once per process): all changes or none; a DELETE names a
    record set (name, type, set identifier) that exists with exactly the
    values given, a CREATE one that does not exist, else InvalidChangeBatch
    (https://docs.aws.amazon.com/Route53/latest/APIReference/API_ChangeResourceRecordSets.html)."""
    from moto.route53 import models
    from moto.route53.exceptions import Route53ClientError

    if _R53_FIXED:
        return
    original: Any = models.Route53Backend.change_resource_record_sets

    def ident(rs: Any) -> tuple[str, str, str]:
        get = rs.get if isinstance(rs, dict) else lambda k: _attr(rs, k)
        return (
            str(get("Name")).lower().rstrip("."),
            str(get("Type")),
            str(get("SetIdentifier") or ""),
        )

    def values(rs: Any) -> tuple[str, ...]:
        get = rs.get if isinstance(rs, dict) else lambda k: _attr(rs, k)
        at = get("AliasTarget") or {}
        records = get("ResourceRecords") or []
        return (
            str(at.get("HostedZoneId", "")),
            str(at.get("DNSName", "")).lower().rstrip("."),
            str(at.get("EvaluateTargetHealth", "")).lower(),
            str(get("TTL") or ""),
            str(get("Weight") or ""),
            ",".join(
                sorted(str(r.get("Value", r)) if isinstance(r, dict) else str(r) for r in records)
            ),
        )

    def change(self: Any, zoneid: str, change_list: list[dict[str, Any]]) -> None:
        zone = self.get_hosted_zone(zoneid)
        state = {ident(r): values(r) for r in zone.rrsets}
        for c in change_list:
            rs, action = c["ResourceRecordSet"], c["Action"]
            key = ident(rs)
            what = f"[name='{key[0]}.', type='{key[1]}'" + (
                f", set-identifier='{key[2]}']" if key[2] else "]"
            )
            if action == "DELETE":
                if key not in state:
                    raise Route53ClientError(
                        "InvalidChangeBatch",
                        f"Tried to delete resource record set {what} but it was not found",
                    )
                if state[key] != values(rs):
                    raise Route53ClientError(
                        "InvalidChangeBatch",
                        f"Tried to delete resource record set {what} but the values provided "
                        "do not match the current values",
                    )
                del state[key]
            elif action == "CREATE":
                if key in state:
                    raise Route53ClientError(
                        "InvalidChangeBatch",
                        f"Tried to create resource record set {what} but it already exists",
                    )
                state[key] = values(rs)
            else:
                state[key] = values(rs)
        # Valid: apply. DELETEs by name, type and set identifier (moto's own
        # deletes by set identifier in every name); the rest as moto does,
        # with a journal that no longer remembers CREATEs of deleted records.
        doomed = {ident(c["ResourceRecordSet"]) for c in change_list if c["Action"] == "DELETE"}
        zone.rrsets = [r for r in zone.rrsets if ident(r) not in doomed]
        rest = [c for c in change_list if c["Action"] != "DELETE"]
        zone.rr_changes.clear()
        if rest:
            original(self, zoneid, rest)

    def reverse_domain_name(domain_name: str) -> str:
        # AWS sorts record sets by name with the labels reversed and a trailing
        # dot, so "api-staging" comes before "api" ("-" sorts before ".");
        # moto drops the dot (https://docs.aws.amazon.com/Route53/latest/APIReference/API_ListResourceRecordSets.html)
        return ".".join(reversed(domain_name.rstrip(".").split("."))) + "."

    models.Route53Backend.change_resource_record_sets = change  # type: ignore[method-assign]
    models.reverse_domain_name = reverse_domain_name
    _R53_FIXED.append(True)


_ASG_FIXED: list[bool] = []


def autoscaling_names_as_aws() -> None:
    """moto's ``CreateAutoScalingGroup`` and ``CreateLaunchConfiguration`` of a
    name in use answer AlreadyExists, as AWS does, instead of replacing the
    original; its ``DeleteLaunchConfiguration`` of a name not in use answers
    ValidationError (not found), as AWS does, instead of succeeding (once per
    process). deploy creates its group and configuration without looking first
    and takes AlreadyExists as done; clean deletes without looking and takes
    not found as done
    (https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_CreateAutoScalingGroup.html,
    https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_CreateLaunchConfiguration.html,
    https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_DeleteLaunchConfiguration.html).
    moto still deletes a configuration a group uses (AWS: ResourceInUse); bluegreen's
    plans never delete one that another group uses."""
    from moto.autoscaling import models
    from moto.autoscaling.exceptions import AutoscalingClientError, ValidationError

    if _ASG_FIXED:
        return
    original: Any = models.AutoScalingBackend.create_auto_scaling_group
    original_lc: Any = models.AutoScalingBackend.create_launch_configuration
    original_delete_lc: Any = models.AutoScalingBackend.delete_launch_configuration

    class AlreadyExists(AutoscalingClientError):
        code = "AlreadyExists"

    def create(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        if name in self.autoscaling_groups:
            raise AlreadyExists(
                f"AutoScalingGroup by this name already exists - A group with the name "
                f"{name} already exists"
            )
        return original(self, name, *args, **kwargs)

    def create_lc(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        if name in self.launch_configurations:
            raise AlreadyExists(
                f"Launch Configuration by this name already exists - A launch configuration "
                f"already exists with the name {name}"
            )
        return original_lc(self, name, *args, **kwargs)

    def delete_lc(self: Any, launch_configuration_name: str) -> None:
        name = launch_configuration_name
        if name not in self.launch_configurations:
            raise ValidationError(
                f"Launch configuration name not found - Launch configuration {name} not found"
            )
        original_delete_lc(self, name)

    models.AutoScalingBackend.create_auto_scaling_group = create  # type: ignore[method-assign]
    models.AutoScalingBackend.create_launch_configuration = create_lc  # type: ignore[method-assign]
    models.AutoScalingBackend.delete_launch_configuration = delete_lc  # type: ignore[method-assign]
    _ASG_FIXED.append(True)


_TERMINATE_FIXED: list[bool] = []


def autoscaling_terminate_as_aws() -> None:
    """moto's ``TerminateInstanceInAutoScalingGroup`` of an instance no longer
    in any group (its termination already under way: the retry of a call whose
    answer was lost) fails with an internal error; AWS answers ValidationError
    "Instance Id not found - No managed instance found for instance ID ..."
    (once per process)."""
    from moto.autoscaling import models
    from moto.autoscaling.exceptions import ValidationError

    if _TERMINATE_FIXED:
        return
    original: Any = models.AutoScalingBackend.terminate_instance

    def terminate(self: Any, instance_id: str, should_decrement: bool) -> Any:
        managed = any(
            s.instance.id == instance_id
            for g in self.autoscaling_groups.values()
            for s in g.instance_states
        )
        if not managed:
            raise ValidationError(
                f"Instance Id not found - No managed instance found for instance ID {instance_id}",
            )
        return original(self, instance_id, should_decrement)

    models.AutoScalingBackend.terminate_instance = terminate  # type: ignore[method-assign]
    _TERMINATE_FIXED.append(True)


def _attr(rs: Any, key: str) -> Any:
    """A field of moto's RecordSet by its API name."""
    return {
        "Name": rs.name,
        "Type": rs.type,
        "SetIdentifier": rs.set_identifier,
        "AliasTarget": rs.alias_target,
        "TTL": rs.ttl,
        "Weight": rs.weight,
        "ResourceRecords": rs.records,
    }[key]


def start(
    port: int | None = None, *, realistic: bool = False, clock: Clock | None = None
) -> Emulator:
    """Start moto server in this process, on loopback only.

    ``realistic`` (or a ``clock``) puts the AWS-fidelity layer
    (``bluegreen.emulator.fidelity``) in front of it: AWS's delays on the system clock
    (or on ``clock``), AWS's answers where moto's differ."""
    os.environ.setdefault("MOTO_ENABLE_AMI_VALIDATION", "true")
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        raise MissingProgram(
            "the embedded AWS emulator is not installed",
            found="the Python package moto[server] is missing",
            fix="pip install 'bluegreen[sandbox]' (or run `make demo`, which installs it)",
        ) from None
    fix_emulator()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    p = port or free_port()
    if realistic or clock is not None:
        return _start_layered(p, clock)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=p, verbose=False)
    server.start()
    return Emulator(server, p)


class _LayeredServer:
    """moto's application behind the fidelity layer, served on a thread."""

    def __init__(self, port: int, layer: Any) -> None:
        import threading

        from moto.moto_server.werkzeug_app import MotoRequestHandler
        from werkzeug.serving import make_server

        self._server = make_server(
            "127.0.0.1", port, layer, threaded=True, request_handler=MotoRequestHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join()


def _start_layered(port: int, clock: Clock | None) -> Emulator:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from bluegreen.emulator.fidelity import Layer

    layer = Layer(DomainDispatcherApplication(create_backend_app), clock)
    return Emulator(_LayeredServer(port, layer), port, layer)


def main(argv: list[str]) -> None:
    """``python -m bluegreen.emulator.server PORT``: the emulator alone, until SIGTERM or Ctrl-C."""
    import threading

    emu = start(int(argv[0]) if argv else 5000)
    print(emu.url, flush=True)
    try:
        threading.Event().wait()
    finally:
        emu.stop()


if __name__ == "__main__":  # pragma: no cover
    import sys

    main(sys.argv[1:])
