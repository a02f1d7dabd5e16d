"""A thin client of the Tally gRPC API (package tally.v1).

The messages and stubs are generated from the proto files into the `tally.v1` package
(`from tally.v1 import kpi_pb2`); this package adds only what every caller would otherwise
write again:

- `TallyClient`: one channel to `host:port`, `http://host:port` or `https://host:port`
  (TLS by the scheme, `parse_address`) with the `authorization: Bearer <key>` metadata on
  every call, retries of UNAVAILABLE with exponential backoff (gRPC's own retry policy), a
  `request_id` filled in on Create calls so that those retries never create twice, and
  one stub per service (`client.influencers`, `client.kpis`, ..., `client.stub(name)`);
- `TallyClient.list_all`: iterates a List call across all its pages;
- `error_details`: the google.rpc details of an error: ErrorInfo reason, domain and
  metadata, BadRequest violations, RetryInfo delay.
"""

from .client import (
    SERVICES,
    Address,
    ErrorDetails,
    FieldViolation,
    TallyClient,
    date,
    error_details,
    parse_address,
)

__all__ = [
    "TallyClient",
    "Address",
    "parse_address",
    "ErrorDetails",
    "FieldViolation",
    "error_details",
    "date",
    "SERVICES",
]
