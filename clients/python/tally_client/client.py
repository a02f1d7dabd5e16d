"""TallyClient: auth metadata, retries, paging and error details over the generated stubs."""

import collections
import datetime
import importlib
import json
import pkgutil
import urllib.parse
import uuid
from typing import (
    Any,
    Callable,
    Dict,
    Iterator,
    List,
    Mapping,
    NamedTuple,
    Optional,
    Sequence,
    Tuple,
    TypeVar,
)

import grpc
from google.protobuf import message as _message
from google.rpc import error_details_pb2
from google.type import date_pb2
from grpc_status import rpc_status

import tally.v1

Request = TypeVar("Request", bound=_message.Message)

def _stub_classes() -> Dict[str, type]:
    """Every service's stub class of the generated `tally.v1` package, by service name
    (`KpiService`), found at import so that a service added to proto/ needs no change
    here."""
    stubs: Dict[str, type] = {}
    for module in pkgutil.iter_modules(tally.v1.__path__):
        if not module.name.endswith("_pb2_grpc"):
            continue
        grpc_module = importlib.import_module(f"tally.v1.{module.name}")
        messages = importlib.import_module(f"tally.v1.{module.name[: -len('_grpc')]}")
        for service in messages.DESCRIPTOR.services_by_name:
            stubs[service] = getattr(grpc_module, f"{service}Stub")
    return stubs


STUBS = _stub_classes()
SERVICES = tuple(sorted(STUBS))

# Attribute names of the services on TallyClient; any other service is `client.stub(name)`.
_ATTRIBUTES = {
    "InfluencerService": "influencers",
    "ChannelService": "channels",
    "CampaignService": "campaigns",
    "SegmentService": "segments",
    "GoalService": "goals",
    "KpiService": "kpis",
    "IngestService": "ingest",
    "JobService": "jobs",
    "TenantService": "tenants",
}


class Address(NamedTuple):
    """A server address as TallyClient reads it: the gRPC target and whether it uses TLS."""

    target: str
    tls: bool


def parse_address(address: str, tls: Optional[bool] = None) -> Address:
    """Reads `host:port`, `http://host:port` or `https://host:port`.

    The scheme decides TLS: `https://` is TLS, `http://` plaintext. A bare `host:port` is
    plaintext unless `tls` is True (TallyClient passes True when it is given credentials
    or root certificates). `tls` contradicting a scheme is a ValueError, as is a path,
    query or user part (gRPC has no use for them). Other gRPC targets (`dns:///host:port`,
    `unix:/path`) are passed through as they are, plaintext unless `tls`.
    """
    text = address.strip()
    if not text:
        raise ValueError("the server address is empty; give host:port or https://host:port")
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme in ("http", "https"):
        parts = urllib.parse.urlsplit(text)
        if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
            raise ValueError(f"{address!r}: a server address is scheme://host:port, nothing more")
        if not parts.hostname:
            raise ValueError(f"{address!r} names no host")
        scheme_tls = scheme == "https"
        if tls is not None and tls != scheme_tls:
            raise ValueError(
                f"{address!r} says {'TLS' if scheme_tls else 'plaintext'} but TLS was "
                f"{'asked for' if tls else 'turned off'}; use {'https' if tls else 'http'}://"
            )
        port = parts.port or (443 if scheme_tls else 80)
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        return Address(f"{host}:{port}", scheme_tls)
    if scheme and scheme != "dns":
        raise ValueError(f"{address!r}: the scheme must be http:// or https://")
    return Address(text, bool(tls))


def _service_config(attempts: int, initial: float, maximum: float, multiplier: float) -> str:
    # gRPC's own retry policy: a call that fails with UNAVAILABLE before the server sent
    # anything (connection refused, server draining, database unreachable) is sent again
    # after a random delay of at most initial × multiplier^n, capped at maximum. gRPC caps
    # maxAttempts at 5.
    return json.dumps(
        {
            "methodConfig": [
                {
                    "name": [{"service": f"tally.v1.{s}"} for s in SERVICES],
                    "retryPolicy": {
                        "maxAttempts": attempts,
                        "initialBackoff": f"{initial}s",
                        "maxBackoff": f"{maximum}s",
                        "backoffMultiplier": multiplier,
                        "retryableStatusCodes": ["UNAVAILABLE"],
                    },
                }
            ]
        }
    )


class _CallDetails(
    collections.namedtuple(
        "_CallDetails",
        ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression"),
    ),
    grpc.ClientCallDetails,
):
    pass


class _Interceptor(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Adds the API key to every call, a default deadline to unary calls, and a fresh
    request_id to Create requests that have none (so retrying them is safe)."""

    def __init__(self, api_key: str, timeout: Optional[float]):
        self._auth = ("authorization", f"Bearer {api_key}")
        self._timeout = timeout

    def _details(self, details: grpc.ClientCallDetails, unary: bool) -> _CallDetails:
        metadata = [m for m in (details.metadata or ()) if m[0] != "authorization"]
        metadata.append(self._auth)
        timeout = details.timeout
        if timeout is None and unary:
            timeout = self._timeout
        return _CallDetails(
            details.method,
            timeout,
            metadata,
            details.credentials,
            getattr(details, "wait_for_ready", None),
            getattr(details, "compression", None),
        )

    @staticmethod
    def _with_request_id(request: Any) -> Any:
        fields = getattr(getattr(request, "DESCRIPTOR", None), "fields_by_name", {})
        if "request_id" in fields and not request.request_id:
            copy = type(request)()
            copy.CopyFrom(request)
            copy.request_id = str(uuid.uuid4())
            return copy
        return request

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(self._details(details, True), self._with_request_id(request))

    def intercept_unary_stream(self, continuation, details, request):
        return continuation(self._details(details, False), request)

    def intercept_stream_unary(self, continuation, details, request_iterator):
        return continuation(self._details(details, True), request_iterator)

    def intercept_stream_stream(self, continuation, details, request_iterator):
        return continuation(self._details(details, False), request_iterator)


class TallyClient:
    """A connection to a Tally server with one stub per service.

    >>> with TallyClient("localhost:50051", api_key) as tally:
    ...     for influencer in tally.list_all(tally.influencers.ListInfluencers,
    ...                                      influencer_pb2.ListInfluencersRequest()):
    ...         print(influencer.name)

    `address` is `host:port`, `http://host:port` or `https://host:port` (see
    `parse_address`): `https://` is TLS, checked against the system's roots or
    `root_certificates` (PEM bytes of a private CA); `host:port` and `http://` are
    plaintext, unless `credentials` (such as grpc.ssl_channel_credentials(...) with a
    client certificate) or `root_certificates` are given, which mean TLS. UNAVAILABLE is
    retried up to `attempts` times in all (at most 5) with exponential backoff from
    `initial_backoff` to `max_backoff` seconds; unary calls get a deadline of `timeout`
    seconds unless the call passes its own.

    The services are attributes (`influencers`, `channels`, `campaigns`, `segments`,
    `goals`, `kpis`, `ingest`, `jobs`, and `tenants` when the server has TenantService);
    `stub("KpiService")` returns any service's stub by name.
    """

    def __init__(
        self,
        address: str,
        api_key: str,
        *,
        credentials: Optional[grpc.ChannelCredentials] = None,
        root_certificates: Optional[bytes] = None,
        timeout: Optional[float] = 30.0,
        attempts: int = 5,
        initial_backoff: float = 0.2,
        max_backoff: float = 5.0,
        backoff_multiplier: float = 2.0,
        options: Sequence[Tuple[str, Any]] = (),
    ):
        if not api_key:
            raise ValueError("an API key is required (tally admin create-tenant prints one)")
        if credentials is not None and root_certificates is not None:
            raise ValueError("give credentials or root_certificates, not both")
        wants_tls = True if credentials is not None or root_certificates is not None else None
        self.address = parse_address(address, wants_tls)
        opts = [
            ("grpc.enable_retries", 1),
            (
                "grpc.service_config",
                _service_config(attempts, initial_backoff, max_backoff, backoff_multiplier),
            ),
            # IngestService accepts messages up to 16 MiB.
            ("grpc.max_send_message_length", 16 * 1024 * 1024),
            *options,
        ]
        if not self.address.tls:
            self.channel = grpc.insecure_channel(self.address.target, options=opts)
        else:
            if credentials is None:
                credentials = grpc.ssl_channel_credentials(root_certificates)
            self.channel = grpc.secure_channel(self.address.target, credentials, options=opts)
        channel = grpc.intercept_channel(self.channel, _Interceptor(api_key, timeout))
        self._stubs = {name: stub(channel) for name, stub in STUBS.items()}
        for name, attribute in _ATTRIBUTES.items():
            if name in self._stubs:
                setattr(self, attribute, self._stubs[name])

    def stub(self, service: str) -> Any:
        """The stub of a tally.v1 service by name, such as `KpiService`."""
        try:
            return self._stubs[service.rsplit(".", 1)[-1]]
        except KeyError:
            raise KeyError(f"no service {service!r}; the client knows {', '.join(SERVICES)}") from None

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Blocks until the channel is connected; a TimeoutError naming the address, and
        whether it was tried with TLS, after `timeout` seconds."""
        try:
            grpc.channel_ready_future(self.channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            how = "TLS" if self.address.tls else "plaintext"
            raise TimeoutError(
                f"no Tally server answered at {self.address.target} ({how}) within {timeout} s"
            ) from None

    @staticmethod
    def list_all(method: Callable[..., Any], request: Request, **call_kwargs: Any) -> Iterator[Any]:
        """Yields every item of a List call, following next_page_token page by page.

        `method` is a stub method such as `client.influencers.ListInfluencers`; `request`
        its request (page_size and filters as wanted; it is not changed). The items are the
        response's one repeated field (influencers, channels, job_runs, ...).
        """
        request = _copy(request)
        field = None
        while True:
            response = method(request, **call_kwargs)
            if field is None:
                repeated = [f.name for f in response.DESCRIPTOR.fields if _is_repeated(f)]
                if len(repeated) != 1 or "next_page_token" not in response.DESCRIPTOR.fields_by_name:
                    raise TypeError(f"{response.DESCRIPTOR.full_name} is not a List response")
                field = repeated[0]
            yield from getattr(response, field)
            if not response.next_page_token:
                return
            request.page_token = response.next_page_token

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> "TallyClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _is_repeated(field: Any) -> bool:
    # FieldDescriptor.is_repeated since protobuf 5.29; `label` before (gone in 7).
    if hasattr(field, "is_repeated"):
        return field.is_repeated
    return field.label == field.LABEL_REPEATED


def _copy(message: Any) -> Any:
    copy = type(message)()
    copy.CopyFrom(message)
    return copy


class FieldViolation(NamedTuple):
    """One bad field of a request: its path (`kpi_scope.scope`) and what is wrong."""

    field: str
    description: str


class ErrorDetails(NamedTuple):
    """What a Tally error says (the google.rpc.Status the server sends): its code and
    message, the google.rpc.ErrorInfo reason (such as FIELD_INVALID or RESOURCE_NOT_FOUND),
    domain (`tally.dev`) and metadata, each google.rpc.BadRequest violation, the
    google.rpc.RetryInfo delay in seconds when the server suggests waiting, and any other
    detail, unpacked when it is a google.rpc type and left as an Any otherwise."""

    code: grpc.StatusCode
    message: str
    reason: str
    violations: List[FieldViolation]
    retry_delay: Optional[float]
    domain: str = ""
    metadata: Mapping[str, str] = {}
    other: Sequence[_message.Message] = ()

    def __str__(self) -> str:
        line = f"{self.code.name}: {self.message}"
        if self.reason:
            line += f" (reason {self.reason})"
        for v in self.violations:
            if f"{v.field}: {v.description}" not in self.message:
                line += f"; {v.field}: {v.description}"
        return line


def error_details(error: grpc.RpcError) -> ErrorDetails:
    """Decodes the rich details (google.rpc.Status) of a failed call."""
    reason, domain, metadata = "", "", {}
    violations: List[FieldViolation] = []
    retry_delay: Optional[float] = None
    other: List[_message.Message] = []
    status = rpc_status.from_call(error) if hasattr(error, "trailing_metadata") else None
    for detail in status.details if status else ():
        kind = getattr(error_details_pb2, detail.TypeName().rsplit(".", 1)[-1], None)
        if not detail.TypeName().startswith("google.rpc.") or kind is None:
            other.append(detail)
            continue
        unpacked = kind()
        detail.Unpack(unpacked)
        if isinstance(unpacked, error_details_pb2.ErrorInfo):
            reason, domain, metadata = unpacked.reason, unpacked.domain, dict(unpacked.metadata)
        elif isinstance(unpacked, error_details_pb2.BadRequest):
            violations.extend(
                FieldViolation(v.field, v.description) for v in unpacked.field_violations
            )
        elif isinstance(unpacked, error_details_pb2.RetryInfo):
            retry_delay = unpacked.retry_delay.ToTimedelta().total_seconds()
        else:
            other.append(unpacked)
    code = error.code() if callable(getattr(error, "code", None)) else grpc.StatusCode.UNKNOWN
    message = error.details() if callable(getattr(error, "details", None)) else str(error)
    return ErrorDetails(
        code, message or "", reason, violations, retry_delay, domain, metadata, tuple(other)
    )


def date(day: datetime.date) -> date_pb2.Date:
    """The google.type.Date of a calendar day."""
    return date_pb2.Date(year=day.year, month=day.month, day=day.day)
