"""DynamoDB: the table that holds each site's lock and release history."""

from __future__ import annotations

from typing import Any

from bluegreen.aws.base import BaseGateway
from bluegreen.errors import AwsError, NotFound


class ConditionFailed(Exception):
    """A conditional write found the item in another state."""


class DynamoCalls(BaseGateway):
    def table_exists(self, table: str) -> bool:
        try:
            self.call("dynamodb", "describe_table", TableName=table)
        except NotFound:
            return False
        except AwsError as e:
            if e.code != "ResourceNotFoundException":
                raise
            return False
        return True

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
            self.call("dynamodb", "put_item", **params)
        except AwsError as e:
            if e.code == "ConditionalCheckFailedException":
                raise ConditionFailed(e.message) from None
            raise

    def get_item(self, table: str, pk: str, sk: str) -> dict[str, Any] | None:
        r = self.call(
            "dynamodb",
            "get_item",
            TableName=table,
            Key={"pk": {"S": pk}, "sk": {"S": sk}},
            ConsistentRead=True,
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
            self.call("dynamodb", "delete_item", **params)
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
        r = self.call("dynamodb", "query", **params)
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
