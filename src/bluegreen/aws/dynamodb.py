"""DynamoDB: the table that holds each site's lock and release history."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from bluegreen.aws.base import BaseGateway
from bluegreen.errors import AwsError, NotFound, WaitTimeout

T = TypeVar("T")
TABLE_WAIT = 300.0  # seconds a new table may stay CREATING before bluegreen gives up


class ConditionFailed(Exception):
    """A conditional write found the item in another state."""


class DynamoCalls(BaseGateway):
    def table_exists(self, table: str) -> bool:
        return self.table_status(table) is not None

    def table_status(self, table: str) -> str | None:
        """CREATING, ACTIVE, UPDATING, DELETING, ...; None when there is no such table."""
        try:
            r = self.call("dynamodb", "describe_table", TableName=table)
        except AwsError as e:
            if isinstance(e, NotFound) or e.code == "ResourceNotFoundException":
                return None
            raise
        return str(r.get("Table", {}).get("TableStatus", "ACTIVE"))

    def wait_table_active(self, table: str, timeout: float = TABLE_WAIT) -> float:
        """Wait until the table is ACTIVE: CreateTable returns while it is still
        CREATING, and until ACTIVE its items cannot be read or written
        (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_CreateTable.html).
        Returns the seconds waited."""
        start = self.clock.monotonic()
        delay = 1.0
        while True:
            status = self.table_status(table)
            waited = self.clock.monotonic() - start
            if status == "ACTIVE":
                return waited
            if status is None:
                raise NotFound(
                    f"dynamodb:DescribeTable: table {table} does not exist",
                    operation="dynamodb:DescribeTable",
                    code="ResourceNotFoundException",
                )
            if waited >= timeout:
                raise WaitTimeout(
                    f"DynamoDB table {table} is still {status} after {waited:.0f}s",
                    found=f"table status {status}",
                    fix="look at the table in the DynamoDB console; run the command again "
                    "once it is ACTIVE",
                )
            self.clock.sleep(delay)
            delay = min(delay * 2, 5.0)

    def _when_ready(self, table: str, op: Callable[[], T]) -> T:
        """Run an item operation; a table that exists but is not ACTIVE yet
        (AWS answers ResourceNotFoundException while it is CREATING) is waited
        for, then the operation runs again. A table that does not exist is
        reported as missing, as before."""
        try:
            return op()
        except AwsError as e:
            if e.code != "ResourceNotFoundException":
                raise
            status = self.table_status(table)
            if status is None or status == "ACTIVE":
                raise
        self.wait_table_active(table)
        return op()

    def create_table(self, table: str, tags: dict[str, str]) -> None:
        try:
            self.call(
                "dynamodb",
                "create_table",
                TableName=table,
                AttributeDefinitions=[
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "S"},
                ],
                KeySchema=[
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                BillingMode="PAY_PER_REQUEST",
                Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
            )
        except AwsError as e:
            if e.code != "ResourceInUseException":
                raise
        self.wait_table_active(table)

    def put_item(
        self,
        table: str,
        item: dict[str, Any],
        condition: str | None = None,
        values: dict[str, Any] | None = None,
    ) -> None:
        params: dict[str, Any] = {"TableName": table, "Item": item}
        if condition:
            params["ConditionExpression"] = condition
        if values:
            params["ExpressionAttributeValues"] = values
        try:
            self._when_ready(table, lambda: self.call("dynamodb", "put_item", **params))
        except AwsError as e:
            if e.code == "ConditionalCheckFailedException":
                raise ConditionFailed(e.message) from None
            raise

    def get_item(self, table: str, pk: str, sk: str) -> dict[str, Any] | None:
        r = self._when_ready(
            table,
            lambda: self.call(
                "dynamodb",
                "get_item",
                TableName=table,
                Key={"pk": {"S": pk}, "sk": {"S": sk}},
                ConsistentRead=True,
            ),
        )
        item = r.get("Item")
        return dict(item) if item else None

    def delete_item(
        self,
        table: str,
        pk: str,
        sk: str,
        condition: str | None = None,
        values: dict[str, Any] | None = None,
    ) -> None:
        params: dict[str, Any] = {"TableName": table, "Key": {"pk": {"S": pk}, "sk": {"S": sk}}}
        if condition:
            params["ConditionExpression"] = condition
        if values:
            params["ExpressionAttributeValues"] = values
        try:
            self._when_ready(table, lambda: self.call("dynamodb", "delete_item", **params))
        except AwsError as e:
            if e.code == "ConditionalCheckFailedException":
                raise ConditionFailed(e.message) from None
            raise

    def query(
        self,
        table: str,
        pk: str,
        limit: int,
        newest_first: bool = True,
        sk_prefix: str | None = None,
    ) -> list[dict[str, Any]]:
        params: dict[str, Any] = {
            "TableName": table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ScanIndexForward": not newest_first,
            "Limit": limit,
        }
        if sk_prefix:
            params["KeyConditionExpression"] += " AND begins_with(sk, :p)"
            params["ExpressionAttributeValues"][":p"] = {"S": sk_prefix}
        r = self._when_ready(table, lambda: self.call("dynamodb", "query", **params))
        return list(r.get("Items", []))

    def transact_write(self, items: list[dict[str, Any]]) -> None:
        """Several writes applied together or not at all (TransactWriteItems).
        botocore gives the call a ClientRequestToken, so a retry after a lost
        response does not apply it twice
        (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html).
        A condition that does not hold cancels it: ``ConditionFailed``."""
        try:
            self.call("dynamodb", "transact_write_items", TransactItems=items)
        except AwsError as e:
            if e.code in ("TransactionCanceledException", "ConditionalCheckFailedException"):
                raise ConditionFailed(e.message) from None
            raise
