"""SSM Parameter Store: public parameters, such as the latest Amazon Linux image."""

from __future__ import annotations

from bluegreen.aws.base import BaseGateway
from bluegreen.errors import NotFound


class SsmCalls(BaseGateway):
    def parameter(self, name: str) -> str | None:
        """The value of a parameter (AWS publishes public ones under ``/aws/service/``),
        or None when it does not exist in this region."""
        try:
            r = self.call("ssm", "get_parameter", Name=name)
        except NotFound:
            return None
        return str(r["Parameter"]["Value"])
