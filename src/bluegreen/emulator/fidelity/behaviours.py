"""Every behaviour of the layer, in the order they see a request."""

from __future__ import annotations

from bluegreen.emulator.fidelity.consistency import (
    ChangePropagation,
    ProfilePropagation,
    Route53Rate,
    TableCreation,
)
from bluegreen.emulator.fidelity.describe import CanonicalZoneIds, OptInZones
from bluegreen.emulator.fidelity.duplicates import AutoScalingNames, ClientTokens, HostedZones
from bluegreen.emulator.fidelity.instances import Boot, FailedLaunches
from bluegreen.emulator.fidelity.layer import Behaviour, Layer
from bluegreen.emulator.fidelity.registry import Registry

# The rate first (a throttled request does nothing); then what refuses a request;
# the registry before what reads it; what rewrites answers last.
ALL: list[type[Behaviour]] = [
    Route53Rate,
    Registry,
    ClientTokens,
    AutoScalingNames,
    HostedZones,
    ProfilePropagation,
    TableCreation,
    FailedLaunches,
    ChangePropagation,
    Boot,
    OptInZones,
    CanonicalZoneIds,
]

__all__ = ["ALL", "Layer"]
