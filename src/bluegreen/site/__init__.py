"""The site's set-up, reconciled: one module per resource family.

``bluegreen init`` (``bluegreen.site.provision``) runs them in dependency order:
``network`` (VPC, subnets, internet gateway, route table), ``security``
(the load balancers' and the instances' security groups), ``identity`` (the
web servers' role, its inline policy, the instance profile, the key pair),
``classic`` or ``alb`` (load balancers, listeners, TLS policies, health
checks, target groups), ``dns`` (the lock table, the hosted zones, the alias
records). Each one reads what exists (by name and tag, never by what a create
returned), compares it with the whole desired state and makes the smallest
change; ``outcome.Recorder`` tells created, repaired (with what differed) and
already right apart.
"""
