"""An AWS-fidelity layer around the emulator (moto server).

moto is instant and forgiving; AWS is neither. This WSGI middleware sits
between the clients and moto's application and reproduces documented AWS
behaviour that moto lacks (each behaviour cites the AWS documentation):

- IAM instance profiles unusable by Auto Scaling / EC2 for a while after
  their creation ("Invalid IamInstanceProfile");
- DynamoDB tables CREATING before ACTIVE, unusable meanwhile;
- Route 53 changes PENDING before INSYNC; Route 53's five requests a second;
- instances pending, then OutOfService / ``initial`` in their load balancer
  until their health checks pass;
- launches that fail (an instance type or KMS key marked failing) only as
  Failed scaling activities;
- EC2 client tokens; AlreadyExists for repeated Auto Scaling creates;
  HostedZoneAlreadyExists for a repeated caller reference; errors for
  deleting a launch configuration or a record that is not there;
- opted-in Local and Wavelength Zones among the availability zones;
- CanonicalHostedZoneNameID on classic load balancers.

Delays are AWS's (``Timings``), measured on a clock: the system clock for
``bluegreen sandbox --realistic``, the tests' fake clock otherwise.
"""

from __future__ import annotations

from bluegreen.emulator.fidelity.layer import Faults, Layer, Timings, wrap

__all__ = ["Faults", "Layer", "Timings", "wrap"]
