"""The base of the AWS gateway: sessions, clients, retries, error translation.

Every botocore call in bluegreen goes through ``BaseGateway.call`` or
``BaseGateway.pages``. That is where:

* clients are made, once per service, with standard-mode retries (bounded
  attempts with exponential backoff and jitter) and timeouts; botocore decides
  whether and how long to back off, and the gateway's clock does the sleeping
  (``_sleep_through_clock``), so a test's fake clock makes retries instant;
* event hooks are attached (call counting in benchmarks, fault injection in
  tests): ``hooks`` is a list of ``(event name, handler)`` pairs registered on
  every client this gateway makes;
* ``ClientError`` becomes bluegreen's own ``AwsError``, ``PermissionDenied`` or
  ``NotFound``, naming the operation, so callers never import botocore.

boto3 is imported here, lazily, and nowhere else in the package: commands that
never talk to AWS (``--help``, ``--version``, input errors) start fast.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from bluegreen.clock import Clock, SystemClock
from bluegreen.errors import AwsError, NotFound, PermissionDenied

T = TypeVar("T")
Hook = tuple[str, Callable[..., Any]]

_DENIED = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedAccess",
    "AuthFailure",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
    "SignatureDoesNotMatch",
}
_NOT_FOUND_SUFFIXES = ("NotFound", "NotFoundException", ".NotFound", "NoSuchEntity", "NoSuchKey")
_MAX_ATTEMPTS = 8


class BaseGateway:
    def __init__(
        self,
        *,
        region: str,
        profile: str | None = None,
        endpoint_url: str | None = None,
        clock: Clock | None = None,
        hooks: Sequence[Hook] = (),
        max_attempts: int = _MAX_ATTEMPTS,
        region_from_profile: bool = False,
        endpoint_credentials: bool = False,
    ) -> None:
        import boto3
        from botocore.config import Config

        from bluegreen import secrets

        self.endpoint_url = endpoint_url
        self.clock: Clock = clock or SystemClock()
        self._hooks = list(hooks)
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._ahead: dict[str, Future[Any]] = {}
        if endpoint_url and not endpoint_credentials:
            # An emulator accepts any credentials; never let real ones go to it
            # unless asked to (an emulator enforcing IAM needs its own users').
            self._session = boto3.Session(
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
                region_name=region,
                botocore_session=_botocore_session(),
            )
        else:
            self._session = boto3.Session(
                profile_name=profile, botocore_session=_botocore_session()
            )
            if region_from_profile and self._session.region_name:
                region = self._session.region_name
            if secrets.debug_log_enabled():
                # botocore's debug log shows signed headers: hide these values there.
                creds = self._session.get_credentials()
                if creds is not None:
                    frozen = creds.get_frozen_credentials()
                    for value in (frozen.access_key, frozen.secret_key, frozen.token):
                        secrets.add_secret(value)
        self.region = region
        self._config = Config(
            region_name=region,
            retries={"mode": "standard", "max_attempts": max_attempts},
            connect_timeout=5,
            read_timeout=60,
            max_pool_connections=20,
            user_agent_extra="bluegreen",
        )

    # -- clients ------------------------------------------------------------
    def client(self, service: str) -> Any:
        made = self._clients.get(service)
        if made is not None:  # made already: no wait on a client being made meanwhile
            return made
        return self._client(service, service, self._config)

    def _client(self, key: str, service: str, config: Any) -> Any:
        """The client kept under ``key``, made once: ``config``, the endpoint,
        retries sleeping on the clock, the hooks."""
        with self._lock:
            c = self._clients.get(key)
            if c is None:
                kwargs: dict[str, Any] = {"config": config}
                if self.endpoint_url:
                    kwargs["endpoint_url"] = self.endpoint_url
                c = self._session.client(service, **kwargs)
                _sleep_through_clock(c, self.clock)
                for event, handler in self._hooks:
                    c.meta.events.register(event, handler)
                self._clients[key] = c
            return c

    def read_ahead(self, key: str, read: Callable[[], Any]) -> None:
        """Start ``read`` now, in the background; ``taken_ahead(key)`` gives its
        future once. For reads of configuration (ids, names) made while the
        command waits on something else (its lock, its image)."""
        pool = ThreadPoolExecutor(max_workers=1)
        future = pool.submit(read)
        pool.shutdown(wait=False)
        with self._lock:
            self._ahead[key] = future

    def taken_ahead(self, key: str) -> Future[Any] | None:
        with self._lock:
            return self._ahead.pop(key, None)

    def add_hook(self, event: str, handler: Callable[..., Any]) -> None:
        """Register ``handler`` on every client, present and future."""
        with self._lock:
            self._hooks.append((event, handler))
            for c in self._clients.values():
                c.meta.events.register(event, handler)

    # -- calls --------------------------------------------------------------
    def call(self, service: str, operation: str, **params: Any) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        method = getattr(self.client(service), operation)
        try:
            result: dict[str, Any] = method(**params)
        except ClientError as e:
            raise translate(service, operation, e) from None
        except _unanswered() as e:
            raise _transport_error(service, operation, e) from None
        return result

    def call_once(
        self, service: str, operation: str, find: Callable[[], T | None], **params: Any
    ) -> dict[str, Any] | T:
        """A create that AWS does not make idempotent (no client token): never
        sent twice blindly. After an answer that may hide a success (a lost
        response, a 5xx, throttling) ``find`` looks the resource up by what it
        is (tags, name); found, it is the result; not found, the request is sent
        again. The lookup is repeated once after a pause, for EC2's eventual
        consistency (https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html).
        Returns the create's response, or what ``find`` returned."""
        from botocore.exceptions import ClientError

        method = getattr(self._once_client(service), operation)
        delay = 0.5
        for attempt in range(1, _MAX_ATTEMPTS + 1):
            try:
                result: dict[str, Any] = method(**params)
                return result
            except ClientError as e:
                if attempt == _MAX_ATTEMPTS or not _retryable(e):
                    raise translate(service, operation, e) from None
            except _unanswered() as e:
                if attempt == _MAX_ATTEMPTS:
                    raise _transport_error(service, operation, e) from None
            for pause in (delay, 2.0):
                self.clock.sleep(pause)
                found = find()
                if found is not None:
                    return found
            delay = min(delay * 2, 8.0)
        raise AssertionError("unreachable")

    def _once_client(self, service: str) -> Any:
        """A client of ``service`` that never retries by itself (``call_once``)."""
        from botocore.config import Config

        once = Config(retries={"mode": "standard", "total_max_attempts": 1})
        return self._client(f"{service}#once", service, self._config.merge(once))

    def pages(self, service: str, operation: str, key: str, **params: Any) -> Iterator[Any]:
        """Items under ``key`` from every page of a paginated operation."""
        from botocore.exceptions import ClientError

        paginator = self.client(service).get_paginator(operation)
        try:
            for page in paginator.paginate(**params):
                yield from page.get(key, [])
        except ClientError as e:
            raise translate(service, operation, e) from None
        except _unanswered() as e:
            raise _transport_error(service, operation, e) from None

    def parallel(self, *thunks: Callable[[], T]) -> list[T]:
        """Run independent read calls at once; results in order. Errors propagate."""
        if len(thunks) <= 1:
            return [t() for t in thunks]
        with ThreadPoolExecutor(max_workers=min(8, len(thunks))) as pool:
            futures = [pool.submit(t) for t in thunks]
            return [f.result() for f in futures]


_RETRYABLE_CODES = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "TooManyRequestsException",
    "PriorRequestNotComplete",
    "ProvisionedThroughputExceededException",
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
    "SlowDown",
}


def _unanswered() -> tuple[type[Exception], ...]:
    """What botocore raises when no usable answer came: no connection, a
    timeout, or a body it cannot parse (an HTML error page from a proxy;
    ``ResponseParserError`` is not a ``BotoCoreError``)."""
    from botocore.exceptions import BotoCoreError
    from botocore.parsers import ResponseParserError

    return (BotoCoreError, ResponseParserError)


def _transport_error(service: str, operation: str, e: BaseException) -> AwsError:
    """A call that got no usable answer from AWS (``_unanswered``): AwsError."""
    return AwsError(
        f"{service}.{operation} failed: {e}",
        operation=f"{service}:{operation}",
        code=type(e).__name__,
        fix="check the network, the endpoint URL and the region, then run the "
        "command again: every bluegreen command resumes where it stopped",
    )


def _retryable(e: Any) -> bool:
    """Whether botocore's standard mode would retry this ClientError."""
    code = str(e.response.get("Error", {}).get("Code", ""))
    status = int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    return code in _RETRYABLE_CODES or status >= 500


def _sleep_through_clock(client: Any, clock: Clock) -> None:
    """Make the client's standard-mode retry back off through ``clock``.

    botocore registers its retry handler on ``needs-retry`` (unique id
    ``retry-config-SERVICE``); the handler returns the back-off delay and
    botocore then calls ``time.sleep``. This swaps in the same handler
    (``botocore.retries.standard``, same maximum attempts, same quota) wrapped
    so that the delay is slept on ``clock`` and botocore sleeps 0. Which
    errors are retried, how often and how long to wait stay botocore's.
    This relies on that unique id (stable since standard mode appeared);
    ``tests/test_faults.py`` fails if retries stop sleeping on the clock.
    """
    from botocore.retries import standard

    if client.meta.config.retries.get("mode") != "standard":
        return
    events = client.meta.events
    svc = client.meta.service_model.service_id.hyphenize()
    uid = f"retry-config-{svc}"
    events.unregister(f"needs-retry.{svc}", unique_id=uid)
    attempts = client.meta.config.retries.get("total_max_attempts")
    handler = standard.register_retry_handler(client, max_attempts=attempts)
    events.unregister(f"needs-retry.{svc}", unique_id=uid)

    def needs_retry(**kwargs: Any) -> Any:
        delay = handler.needs_retry(**kwargs)
        if isinstance(delay, int | float) and not isinstance(delay, bool):
            clock.sleep(float(delay))
            return 0.0  # retry now: the clock has slept
        return delay

    events.register(f"needs-retry.{svc}", needs_retry, unique_id=uid)


_SHARED: dict[str, Any] = {}


def _botocore_session() -> Any:
    """A new botocore session that shares the process's service-model loader
    and endpoint resolver, so a second gateway in one process (the demo, a
    library user, the tests) does not parse the models again."""
    import botocore.session

    s = botocore.session.get_session()
    with _SHARED_LOCK:
        if not _SHARED:
            _SHARED["data_loader"] = s.get_component("data_loader")
        else:
            for name, component in _SHARED.items():
                s.register_component(name, component)
    return s


_SHARED_LOCK = threading.Lock()


def translate(service: str, operation: str, e: Any) -> AwsError:
    err = e.response.get("Error", {})
    status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    code = str(err.get("Code", "")) or "Unknown"
    msg = str(err.get("Message", ""))
    embedded = _XML_CODE.search(msg)
    if embedded:  # an XML error document where JSON was expected (some emulators)
        code = embedded.group(1)
        m = _XML_MESSAGE.search(msg)
        msg = m.group(1) if m else ""
    msg = msg or code
    op = f"{_iam_prefix(service)}:{_action(operation, e)}"
    if (
        code in _DENIED
        or "not authorized" in msg.lower()
        or (status == 403 and code in ("Unknown", "403"))
    ):
        # AWS names the action it refused, which may be another than the
        # operation called (ec2:RunInstances or iam:PassRole behind
        # autoscaling:CreateAutoScalingGroup, for example).
        named = _PERFORM.search(msg)
        action = named.group(1) if named else op
        if named and named.group(1).split(":")[0] == "monitoring":
            action = "cloudwatch:" + named.group(1).split(":", 1)[1]
        if msg == code or msg in ("Unknown", "403"):
            msg = "access denied"
        return PermissionDenied(
            f"{action} was denied (calling {op}): {msg}"
            if action != op
            else f"{op} was denied: {msg}",
            operation=action,
            code=code,
            fix=f"grant {action} to the credentials in use "
            "(`bluegreen iam-policy` prints the policy bluegreen needs, see docs/SECURITY.md), "
            "then run the command again",
        )
    if code.endswith(_NOT_FOUND_SUFFIXES) or (
        code in ("LoadBalancerNotFound", "ValidationError")
        and ("not found" in msg.lower() or "does not exist" in msg.lower())
    ):
        return NotFound(f"{op}: {msg}", operation=op, code=code)
    return AwsError(
        f"{op} failed with {code}: {msg}",
        operation=op,
        code=code,
        fix="run the command again once the cause is fixed: it resumes where it stopped",
    )


_XML_CODE = re.compile(r"<Code>([^<]+)</Code>")
_XML_MESSAGE = re.compile(r"<Message>([^<]*)</Message>")
_PERFORM = re.compile(r"perform: ([a-z0-9-]+:[A-Za-z0-9]+)")


def _iam_prefix(service: str) -> str:
    return {"elb": "elasticloadbalancing", "elbv2": "elasticloadbalancing"}.get(service, service)


def _action(operation: str, e: Any = None) -> str:
    """The API name of a boto3 method: ``create_vpc`` -> ``CreateVpc``. The
    botocore error carries the exact one (``AssociateVPCWithHostedZone``)."""
    name = getattr(e, "operation_name", None)
    if isinstance(name, str) and name:
        return name
    return "".join(p.capitalize() for p in operation.split("_"))


def error_code(e: BaseException) -> str:
    return e.code if isinstance(e, AwsError) else ""
