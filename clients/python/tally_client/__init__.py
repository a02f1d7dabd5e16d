"""A thin client of the Tally gRPC API (package tally.v1).

The messages and stubs are generated from the proto files into the `tally.v1` package
(`from tally.v1 import kpi_pb2`); this package adds only what every caller would otherwise
write again:

- `TallyClient`: one channel with the `authorization: Bearer <key>` metadata on every call,
  retries of UNAVAILABLE with exponential backoff (gRPC's own retry policy), a
  `request_id` filled in on Create calls so that those retries never create twice, and
  one stub attribute per service (`client.influencers`, `client.kpis`, ...);
- `TallyClient.list_all`: iterates a List call across all its pages;
- `error_details`: the google.rpc ErrorInfo reason and BadRequest violations of an error.
"""

from .client import ErrorDetails, TallyClient, date, error_details

__all__ = ["TallyClient", "ErrorDetails", "error_details", "date"]
