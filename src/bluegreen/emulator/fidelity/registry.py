"""What each launch template version and launch configuration launches with
(instance profile, instance type, KMS keys, image), read from the requests that made
them, so the other behaviours can judge a group's launches without asking."""

from __future__ import annotations

from dataclasses import dataclass

from bluegreen.emulator.fidelity.layer import Behaviour
from bluegreen.emulator.fidelity.wire import Call, Reply, tag


@dataclass(frozen=True)
class Launch:
    profile: str = ""
    instance_type: str = ""
    kms_keys: tuple[str, ...] = ()
    image: str = ""


def _profile(call: Call, prefix: str) -> str:
    name = call.get(f"{prefix}IamInstanceProfile.Name") or call.get(f"{prefix}IamInstanceProfile")
    arn = call.get(f"{prefix}IamInstanceProfile.Arn")
    return name or arn.rsplit("/", 1)[-1]


def _from_template(call: Call, base: Launch | None) -> Launch:
    p = "LaunchTemplateData."
    keys = tuple(
        v for k, v in sorted(call.params.items()) if k.startswith(p) and k.endswith("KmsKeyId")
    )
    b = base or Launch()
    return Launch(
        _profile(call, p) or b.profile,
        call.get(p + "InstanceType") or b.instance_type,
        keys or b.kms_keys,
        call.get(p + "ImageId") or b.image,
    )


class Registry(Behaviour):
    def reset(self) -> None:
        self.templates: dict[str, dict[int, Launch]] = {}
        self.ids: dict[str, str] = {}  # template id -> name
        self.configurations: dict[str, Launch] = {}

    def _name(self, call: Call, prefix: str = "") -> str:
        name = call.get(prefix + "LaunchTemplateName")
        return name or self.ids.get(call.get(prefix + "LaunchTemplateId"), "")

    def after(self, call: Call, reply: Reply) -> Reply:
        if not reply.ok:
            return reply
        if call.service == "ec2" and call.action == "CreateLaunchTemplate":
            name = call.get("LaunchTemplateName")
            for tid in tag(reply.text, "launchTemplateId")[:1]:
                self.ids[tid] = name
            self.templates[name] = {1: _from_template(call, None)}
        elif call.service == "ec2" and call.action == "CreateLaunchTemplateVersion":
            name = self._name(call)
            versions = self.templates.setdefault(name, {})
            number = int((tag(reply.text, "versionNumber") or ["0"])[0])
            source = call.get("SourceVersion")
            base = versions.get(int(source)) if source.isdigit() else None
            versions[number] = _from_template(call, base)
        elif call.service == "ec2" and call.action == "DeleteLaunchTemplate":
            self.templates.pop(self._name(call), None)
        elif call.service == "autoscaling" and call.action == "CreateLaunchConfiguration":
            keys = tuple(call.suffixed(".Ebs.KmsKeyId"))
            self.configurations[call.get("LaunchConfigurationName")] = Launch(
                _profile(call, ""), call.get("InstanceType"), keys, call.get("ImageId")
            )
        elif call.service == "autoscaling" and call.action == "DeleteLaunchConfiguration":
            self.configurations.pop(call.get("LaunchConfigurationName"), None)
        return reply

    def launch_of(self, call: Call) -> Launch | None:
        """What a CreateAutoScalingGroup / UpdateAutoScalingGroup call launches with
        (None: it names no template or configuration)."""
        lc = call.get("LaunchConfigurationName")
        if lc:
            return self.configurations.get(lc)
        name = self._name(call, "LaunchTemplate.")
        versions = self.templates.get(name)
        if not versions:
            return None
        v = call.get("LaunchTemplate.Version")
        return versions.get(int(v)) if v.isdigit() else versions[max(versions)]


def registry(layer_behaviours: list[Behaviour]) -> Registry:
    return next(b for b in layer_behaviours if isinstance(b, Registry))
