#!/usr/bin/env python3
"""Tally from Python, end to end, against a running server.

    TALLY_ADDR=localhost:50051 TALLY_API_KEY=... python example.py

Creates the influencer `mia` with the discount code MIA15 and her TikTok channel, ingests
a day of shop orders and the channel's stats, computes the KPIs of that day, queries the
week up to it day by day, then follows WatchSnapshots while a corrected order arrives and
the day is computed again. It is safe to run again against the same tenant (Create falls back
to Get, ingest upserts), and prints the same lines every time.

Output: one record per line, `kind key=value ...`; a value is `none` when the KPI is
undefined (the reason follows), money is in major units. The day is 2026-03-10 unless
TALLY_EXAMPLE_DAY (YYYY-MM-DD) says otherwise; orders are placed at noon UTC, so the
tenant's time zone must be within ±11 hours of UTC. The tenant's currency is EUR unless
TALLY_CURRENCY says otherwise.
"""

import datetime
import os
import queue
import sys
import threading

import grpc
from google.protobuf import timestamp_pb2

from tally.v1 import (
    channel_pb2,
    common_pb2,
    influencer_pb2,
    ingest_pb2,
    kpi_pb2,
)
from tally_client import TallyClient, date, error_details

DAY = datetime.date.fromisoformat(os.environ.get("TALLY_EXAMPLE_DAY", "2026-03-10"))
CURRENCY = os.environ.get("TALLY_CURRENCY", "EUR")
MIA = "influencers/mia"
MIA_TT = "channels/mia-tt"


def fmt(value: float) -> str:
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def kpi_value(prefix: str, v: kpi_pb2.KpiValue) -> str:
    day = datetime.date(v.first_day.year, v.first_day.month, v.first_day.day)
    value = fmt(v.value) if v.HasField("value") else "none"
    line = f"{prefix} kpi={v.kpi_scope.kpi} scope={v.kpi_scope.scope} day={day} value={value}"
    if v.undefined_reason:
        line += f" reason={v.undefined_reason}"
    return line


def noon(day: datetime.date) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(datetime.datetime.combine(day, datetime.time(12), datetime.timezone.utc))
    return ts


def order(order_id, day, revenue, customer="", email="", codes=(), source="", campaign=""):
    return ingest_pb2.Order(
        order_id=order_id,
        customer_id=customer,
        customer_email=email,
        placed_at=noon(day),
        currency_code=CURRENCY,
        revenue_minor=revenue,
        discount_codes=list(codes),
        utm_source=source,
        utm_campaign=campaign,
    )


# The shop's orders. On DAY: three orders with Mia's code from two customers (the code is
# matched trimmed and case-insensitively), a guest order whose first code WELCOME belongs
# to nobody so MIA15 decides, an order attributed to Mia by her tracking values (no code),
# and an order with WELCOME only (unattributed). One code order the day before.
ORDERS = [
    order("o-0999", DAY - datetime.timedelta(days=1), 1800, customer="c-1", codes=["MIA15"]),
    order("o-1001", DAY, 5000, customer="c-1", codes=["MIA15"]),
    order("o-1002", DAY, 3000, customer="c-2", codes=[" mia15 "]),
    order("o-1003", DAY, 2000, customer="c-1", codes=["MIA15"]),
    order("o-1004", DAY, 1500, email="Guest@Example.com", codes=["WELCOME", "MIA15"]),
    order("o-1005", DAY, 4000, customer="c-3", source="TikTok", campaign="mia"),
    order("o-1006", DAY, 2500, customer="c-4", codes=["WELCOME"]),
]
# Arrives while the example watches the snapshots: the shop corrects o-1006, which used
# MIA15 too, so it becomes Mia's and c-4 a code buyer. (ORDERS above sends the uncorrected
# row again on the next run, so every run prints the same lines.)
CORRECTED_ORDER = order("o-1006", DAY, 2500, customer="c-4", codes=["WELCOME", "MIA15"])

STATS = ingest_pb2.ChannelDayStats(
    channel=MIA_TT,
    day=date(DAY),
    followers=12000,
    posts=2,
    likes=840,
    comments=56,
    shares=31,
    views=45000,
    reach=30000,
)

# What the example queries and watches.
QUERIED = [
    ("attributed_orders", MIA),
    ("attributed_revenue", MIA),
    ("code_buyers", MIA),
    ("attributed_orders", "tenant"),
    ("followers", MIA_TT),
    ("ipm", MIA_TT),
]
WATCHED = [("attributed_orders", MIA), ("code_buyers", MIA), ("followers", MIA_TT)]


def setup(tally: TallyClient) -> None:
    try:
        mia = tally.influencers.CreateInfluencer(
            influencer_pb2.CreateInfluencerRequest(
                influencer_id="mia",
                influencer=influencer_pb2.Influencer(
                    display_name="Mia",
                    tags=["beauty"],
                    discount_codes=["MIA15"],
                    tracking_values=[
                        influencer_pb2.TrackingValue(utm_source="tiktok", utm_campaign="mia")
                    ],
                ),
            )
        )
    except grpc.RpcError as e:
        if e.code() != grpc.StatusCode.ALREADY_EXISTS:
            raise
        mia = tally.influencers.GetInfluencer(influencer_pb2.GetInfluencerRequest(name=MIA))
    print(f"influencer name={mia.name} codes={','.join(mia.discount_codes)}")

    try:
        channel = tally.channels.CreateChannel(
            channel_pb2.CreateChannelRequest(
                channel_id="mia-tt",
                channel=channel_pb2.Channel(
                    display_name="Mia on TikTok",
                    platform=common_pb2.TIKTOK,
                    owner=MIA,
                    account_id="mia.example",
                ),
            )
        )
    except grpc.RpcError as e:
        if e.code() != grpc.StatusCode.ALREADY_EXISTS:
            raise
        channel = tally.channels.GetChannel(channel_pb2.GetChannelRequest(name=MIA_TT))
    platform = common_pb2.Platform.Name(channel.platform)
    print(f"channel name={channel.name} platform={platform} owner={channel.owner}")

    # Paging: the catalogue, ten definitions per page, in one loop.
    definitions = list(
        tally.list_all(
            tally.kpis.ListKpiDefinitions, kpi_pb2.ListKpiDefinitionsRequest(page_size=10)
        )
    )
    print(f"kpi_definitions listed={len(definitions)}")


def ingest(tally: TallyClient, orders) -> None:
    res = tally.ingest.IngestOrders(ingest_pb2.IngestOrdersRequest(rows=orders))
    print(f"ingest kind=orders accepted={res.accepted_count} rejected={res.rejected_count}")
    for r in res.rejected:
        print(f"rejected index={r.index} field={r.field} reason={r.reason!r}")


def compute(tally: TallyClient) -> kpi_pb2.ComputeKpisResponse:
    return tally.kpis.ComputeKpis(
        kpi_pb2.ComputeKpisRequest(first_day=date(DAY), last_day=date(DAY))
    )


def watch(tally: TallyClient) -> None:
    """Follows WatchSnapshots while a corrected order arrives and the day is computed again."""
    scopes = [kpi_pb2.KpiScope(kpi=k, scope=s) for k, s in WATCHED]
    stream = tally.kpis.WatchSnapshots(kpi_pb2.WatchSnapshotsRequest(kpi_scopes=scopes))
    values: "queue.Queue[kpi_pb2.KpiValue]" = queue.Queue()

    def follow():
        try:
            for v in stream:
                values.put(v)
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.CANCELLED:
                values.put(e)

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    ingest(tally, [CORRECTED_ORDER])
    latest = {}
    # The stream is open once the server has subscribed it; a run finished before that is
    # not pushed, so compute again (the values are the same) until every KPI arrived.
    for _ in range(5):
        compute(tally)
        deadline = datetime.datetime.now() + datetime.timedelta(seconds=3)
        while len(latest) < len(WATCHED) and datetime.datetime.now() < deadline:
            try:
                v = values.get(timeout=0.2)
            except queue.Empty:
                continue
            if isinstance(v, grpc.RpcError):
                raise v
            latest[(v.kpi_scope.kpi, v.kpi_scope.scope)] = v
        if len(latest) == len(WATCHED):
            break
    stream.cancel()
    thread.join(timeout=5)
    if len(latest) < len(WATCHED):
        sys.exit(f"WatchSnapshots pushed {len(latest)} of {len(WATCHED)} values")
    for key in WATCHED:
        print(kpi_value("watch", latest[key]))


def main() -> None:
    addr = os.environ.get("TALLY_ADDR", "localhost:50051")
    key = os.environ.get("TALLY_API_KEY")
    if not key:
        sys.exit("set TALLY_API_KEY (tally admin create-tenant NAME prints one)")
    with TallyClient(addr, key) as tally:
        tally.wait_ready(timeout=15)
        setup(tally)
        ingest(tally, ORDERS)
        stats = tally.ingest.IngestChannelStats(ingest_pb2.IngestChannelStatsRequest(rows=[STATS]))
        print(f"ingest kind=channel_stats accepted={stats.accepted_count} rejected={stats.rejected_count}")

        run = compute(tally)
        print(f"compute first_day={DAY} last_day={DAY} days={run.days}")

        first = DAY - datetime.timedelta(days=6)
        for kpi, scope in QUERIED:
            res = tally.kpis.QuerySnapshots(
                kpi_pb2.QuerySnapshotsRequest(
                    kpi_scope=kpi_pb2.KpiScope(kpi=kpi, scope=scope),
                    first_day=date(first),
                    last_day=date(DAY),
                    granularity=kpi_pb2.DAY,
                )
            )
            for v in res.values:
                print(kpi_value("snapshot", v))

        watch(tally)

        # What a bad request looks like to a client: the field at fault, by name.
        try:
            tally.kpis.QuerySnapshots(
                kpi_pb2.QuerySnapshotsRequest(
                    kpi_scope=kpi_pb2.KpiScope(kpi="roas", scope=MIA_TT),
                    first_day=date(DAY),
                    last_day=date(DAY),
                )
            )
        except grpc.RpcError as e:
            d = error_details(e)
            fields = ",".join(f for f, _ in d.violations)
            print(f"error code={d.code.name} reason={d.reason} fields={fields}")


if __name__ == "__main__":
    main()
