"""TallyClient: auth metadata, retries, paging and error details over the generated stubs."""

import collections
import datetime
import json
import uuid
from typing import Any, Callable, Iterator, List, NamedTuple, Optional, Sequence, Tuple

import grpc
from google.rpc import error_details_pb2
from google.type import date_pb2
from grpc_status import rpc_status

from tally.v1 import (
    campaign_pb2_grpc,
    channel_pb2_grpc,
    goal_pb2_grpc,
    influencer_pb2_grpc,
    ingest_pb2_grpc,
    job_pb2_grpc,
    kpi_pb2_grpc,
    segment_pb2_grpc,
)

SERVICES = (
    "InfluencerService",
    "ChannelService",
    "CampaignService",
    "SegmentService",
    "GoalService",
    "KpiService",
    "IngestService",
    "JobService",
)


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

    `target` is host:port. The channel is plaintext unless `credentials` (such as
    grpc.ssl_channel_credentials()) are given. UNAVAILABLE is retried up to `attempts`
    times in all (at most 5) with exponential backoff from `initial_backoff` to
    `max_backoff` seconds; unary calls get a deadline of `timeout` seconds unless the call
    passes its own.
    """

    def __init__(
        self,
        target: str,
        api_key: str,
        *,
        credentials: Optional[grpc.ChannelCredentials] = None,
        timeout: Optional[float] = 30.0,
        attempts: int = 5,
        initial_backoff: float = 0.2,
        max_backoff: float = 5.0,
        backoff_multiplier: float = 2.0,
        options: Sequence[Tuple[str, Any]] = (),
    ):
        if not api_key:
            raise ValueError("an API key is required (tally admin create-tenant prints one)")
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
        if credentials is None:
            self.channel = grpc.insecure_channel(target, options=opts)
        else:
            self.channel = grpc.secure_channel(target, credentials, options=opts)
        channel = grpc.intercept_channel(self.channel, _Interceptor(api_key, timeout))
        self.influencers = influencer_pb2_grpc.InfluencerServiceStub(channel)
        self.channels = channel_pb2_grpc.ChannelServiceStub(channel)
        self.campaigns = campaign_pb2_grpc.CampaignServiceStub(channel)
        self.segments = segment_pb2_grpc.SegmentServiceStub(channel)
        self.goals = goal_pb2_grpc.GoalServiceStub(channel)
        self.kpis = kpi_pb2_grpc.KpiServiceStub(channel)
        self.ingest = ingest_pb2_grpc.IngestServiceStub(channel)
        self.jobs = job_pb2_grpc.JobServiceStub(channel)

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Blocks until the channel is connected; grpc.FutureTimeoutError after `timeout`."""
        grpc.channel_ready_future(self.channel).result(timeout=timeout)

    @staticmethod
    def list_all(method: Callable, request: Any, **call_kwargs) -> Iterator[Any]:
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


class ErrorDetails(NamedTuple):
    """What a Tally error says: its code and message, the google.rpc.ErrorInfo reason
    (such as FIELD_INVALID), each BadRequest violation as (field, description), and the
    RetryInfo delay in seconds when the server suggests one."""

    code: grpc.StatusCode
    message: str
    reason: str
    violations: List[Tuple[str, str]]
    retry_delay: Optional[float]


def error_details(error: grpc.RpcError) -> ErrorDetails:
    """Decodes the rich details (google.rpc.Status) of a failed call."""
    reason, violations, retry_delay = "", [], None
    status = rpc_status.from_call(error) if hasattr(error, "trailing_metadata") else None
    for detail in status.details if status else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations = [(v.field, v.description) for v in bad.field_violations]
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
            retry_delay = retry.retry_delay.ToTimedelta().total_seconds()
    return ErrorDetails(error.code(), error.details() or "", reason, violations, retry_delay)


def date(day: datetime.date) -> date_pb2.Date:
    """The google.type.Date of a calendar day."""
    return date_pb2.Date(year=day.year, month=day.month, day=day.day)
