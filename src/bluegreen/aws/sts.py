"""STS: who the credentials belong to (for ``bluegreen iam-policy``)."""

from __future__ import annotations

from bluegreen.aws.base import BaseGateway


class StsCalls(BaseGateway):
    def account_id(self) -> str:
        """The account of the credentials in use. AWS allows this call to everyone."""
        return str(self.call("sts", "get_caller_identity")["Account"])
