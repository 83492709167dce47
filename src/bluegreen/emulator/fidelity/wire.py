"""Just enough of the AWS wire protocols to read a request and answer it.

Query protocol (EC2, Auto Scaling, ELB, IAM, STS): a form body with
``Action=...``. JSON protocol (DynamoDB): ``X-Amz-Target: DynamoDB_20120810.Op``
and a JSON body. REST-XML (Route 53): the method and path name the operation.
The service and region come from the SigV4 credential scope of the
``Authorization`` header (``Credential=KEY/DATE/REGION/SERVICE/aws4_request``).
"""

from __future__ import annotations

import io
import json
import re
import uuid
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode
from xml.sax.saxutils import escape

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
App = Callable[[Environ, StartResponse], Iterable[bytes]]

_SCOPE = re.compile(r"Credential=[^/]+/\d+/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request")
_ROUTE53 = [
    ("POST", re.compile(r"^/2013-04-01/hostedzone/?$"), "CreateHostedZone"),
    ("GET", re.compile(r"^/2013-04-01/hostedzone/?$"), "ListHostedZones"),
    ("POST", re.compile(r"^/2013-04-01/hostedzone/[^/]+/rrset/?$"), "ChangeResourceRecordSets"),
    ("GET", re.compile(r"^/2013-04-01/hostedzone/[^/]+/rrset/?$"), "ListResourceRecordSets"),
    ("GET", re.compile(r"^/2013-04-01/change/[^/]+$"), "GetChange"),
]


@dataclass
class Call:
    """One request as the layer sees it."""

    service: str  # ec2, autoscaling, elasticloadbalancing, iam, dynamodb, route53, ...
    region: str
    action: str
    method: str
    path: str
    body: bytes
    environ: Environ
    params: dict[str, str] = field(default_factory=dict)  # query protocol, flattened
    doc: dict[str, Any] = field(default_factory=dict)  # JSON protocol

    def get(self, name: str, default: str = "") -> str:
        return self.params.get(name, default)

    def suffixed(self, suffix: str) -> list[str]:
        """Values of every parameter whose name ends with ``suffix``."""
        return [v for k, v in sorted(self.params.items()) if k.endswith(suffix)]

    def fingerprint(self, *ignore: str) -> str:
        """The request's parameters without ``ignore``, canonical."""
        kept = {k: v for k, v in self.params.items() if k not in ignore}
        return json.dumps(kept, sort_keys=True)

    @property
    def classic_elb(self) -> bool:
        return self.service == "elasticloadbalancing" and self.get("Version") == "2012-06-01"


@dataclass
class Reply:
    status: str
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def code(self) -> int:
        return int(self.status.split()[0])

    @property
    def ok(self) -> bool:
        return self.code < 300

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def with_text(self, text: str) -> Reply:
        """The same answer with another body (its length and, for DynamoDB, its
        CRC32 header recomputed: botocore checks it and retries on a mismatch)."""
        body = text.encode()
        if body == self.body:
            return self
        headers = [
            (k, v) for k, v in self.headers if k.lower() not in ("content-length", "x-amz-crc32")
        ]
        headers.append(("Content-Length", str(len(body))))
        if any(k.lower() == "x-amz-crc32" for k, _ in self.headers):
            headers.append(("x-amz-crc32", str(zlib.crc32(body) & 0xFFFFFFFF)))
        return Reply(self.status, headers, body)


def read_call(environ: Environ) -> Call:
    """Parse the request; its body is put back for the wrapped application."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    method = str(environ.get("REQUEST_METHOD", "GET"))
    path = str(environ.get("PATH_INFO", "/"))
    m = _SCOPE.search(str(environ.get("HTTP_AUTHORIZATION", "")))
    region, service = (m.group(1), m.group(2)) if m else ("us-east-1", "")
    call = Call(service, region, "", method, path, body, environ)
    target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
    if target:
        call.action = target.rsplit(".", 1)[-1]
        try:
            doc = json.loads(body or b"{}")
        except ValueError:
            doc = {}
        call.doc = doc if isinstance(doc, dict) else {}
    elif service == "route53":
        call.action = next((a for verb, p, a in _ROUTE53 if verb == method and p.match(path)), "")
    else:
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        if not form:
            form = parse_qs(str(environ.get("QUERY_STRING", "")), keep_blank_values=True)
        call.params = {k: v[0] for k, v in form.items()}
        call.action = call.get("Action")
    return call


def error(call: Call, status: int, code: str, message: str) -> Reply:
    """An error answer in the call's protocol, as AWS shapes it."""
    rid = uuid.uuid4().hex
    msg = escape(message)
    if call.service == "dynamodb":
        body = json.dumps(
            {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message}
        )
        ctype = "application/x-amz-json-1.0"
    elif call.service == "ec2":
        body = (
            f"<Response><Errors><Error><Code>{code}</Code><Message>{msg}</Message></Error>"
            f"</Errors><RequestID>{rid}</RequestID></Response>"
        )
        ctype = "text/xml"
    else:
        ns = (
            ' xmlns="https://route53.amazonaws.com/doc/2013-04-01/"'
            if call.service == "route53"
            else ""
        )
        body = (
            f"<ErrorResponse{ns}><Error><Type>Sender</Type><Code>{code}</Code>"
            f"<Message>{msg}</Message></Error><RequestId>{rid}</RequestId></ErrorResponse>"
        )
        ctype = "text/xml"
    data = body.encode()
    reason = {400: "Bad Request", 404: "Not Found", 409: "Conflict"}.get(status, "Error")
    return Reply(
        f"{status} {reason}",
        [("Content-Type", ctype), ("Content-Length", str(len(data))), ("x-amzn-RequestId", rid)],
        data,
    )


def json_reply(doc: dict[str, Any]) -> Reply:
    data = json.dumps(doc).encode()
    return Reply(
        "200 OK",
        [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
        data,
    )


def xml_reply(text: str) -> Reply:
    data = text.encode()
    return Reply("200 OK", [("Content-Type", "text/xml"), ("Content-Length", str(len(data)))], data)


def forward(app: App, environ: Environ) -> Reply:
    """Run the wrapped application; its whole answer."""
    got: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        got["status"], got["headers"] = status, list(headers)
        return lambda _data: None

    chunks = app(environ, start_response)
    try:
        body = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    return Reply(str(got["status"]), list(got["headers"]), body)


def sub_request(
    app: App,
    call: Call,
    *,
    params: dict[str, str] | None = None,
    method: str = "POST",
    path: str = "/",
    query: str = "",
) -> Reply:
    """Ask the wrapped application something on the caller's behalf (same
    credentials and region): a query-protocol form, or a REST GET."""
    env = {k: v for k, v in call.environ.items() if not k.startswith("wsgi.input")}
    body = urlencode(params).encode() if params is not None else b""
    env.update(
        {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body),
        }
    )
    if params is not None:
        env["CONTENT_TYPE"] = "application/x-www-form-urlencoded; charset=utf-8"
    env.pop("HTTP_X_AMZ_TARGET", None)
    return forward(app, env)


def tag(text: str, name: str) -> list[str]:
    """Every value of ``<name>...</name>`` in an XML text."""
    return re.findall(rf"<{name}>([^<]*)</{name}>", text)


def set_params(call: Call, **changes: str) -> None:
    """Change query-protocol parameters of the request before it goes on."""
    call.params.update(changes)
    body = urlencode(call.params).encode()
    call.body = body
    call.environ["wsgi.input"] = io.BytesIO(body)
    call.environ["CONTENT_LENGTH"] = str(len(body))
