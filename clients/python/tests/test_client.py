"""Tests of tally_client against a running server (CI: .ci/python-client).

    TALLY_ADDR=127.0.0.1:50051 TALLY_API_KEY=... python -m unittest discover clients/python/tests

TALLY_TLS_ADDR (host:port of a TLS port of the same server's database) and
TALLY_TLS_ROOT_CERT (the PEM that signs it) add the https:// cases; TALLY_PROTO_DIR (the
proto root) adds the check that the client knows every service of the proto files. The
address tests need no server.
"""
import datetime
import os
import pathlib
import re
import unittest

import grpc

from tally.v1 import influencer_pb2, job_pb2, kpi_pb2
from tally_client import SERVICES, TallyClient, date, error_details, parse_address

ADDR = os.environ.get("TALLY_ADDR", "")
KEY = os.environ.get("TALLY_API_KEY", "")
TLS_ADDR = os.environ.get("TALLY_TLS_ADDR", "")
TLS_ROOT = os.environ.get("TALLY_TLS_ROOT_CERT", "")
PROTO_DIR = os.environ.get("TALLY_PROTO_DIR", "")


class Addresses(unittest.TestCase):
    def test_the_scheme_decides_tls(self):
        self.assertEqual(parse_address("localhost:50051"), ("localhost:50051", False))
        self.assertEqual(parse_address("http://localhost:50051"), ("localhost:50051", False))
        self.assertEqual(parse_address("HTTP://localhost:50051/"), ("localhost:50051", False))
        self.assertEqual(parse_address("https://tally.example.com"), ("tally.example.com:443", True))
        self.assertEqual(parse_address("https://[::1]:8443"), ("[::1]:8443", True))
        self.assertEqual(parse_address("[::1]:50051"), ("[::1]:50051", False))

    def test_a_bare_address_uses_tls_only_when_asked(self):
        self.assertEqual(parse_address("localhost:50051", tls=True), ("localhost:50051", True))
        self.assertEqual(parse_address("https://localhost:1", tls=True), ("localhost:1", True))
        with self.assertRaisesRegex(ValueError, "use https://"):
            parse_address("http://localhost:1", tls=True)
        with self.assertRaisesRegex(ValueError, "use http://"):
            parse_address("https://localhost:1", tls=False)

    def test_other_forms_are_refused_with_the_reason(self):
        for address, says in [
            ("", "empty"),
            ("grpc://localhost:1", "http:// or https://"),
            ("http://localhost:1/tally", "nothing more"),
            ("http://user@localhost:1", "nothing more"),
            ("https://:443", "names no host"),
        ]:
            with self.subTest(address=address):
                with self.assertRaisesRegex(ValueError, says):
                    parse_address(address)

    def test_credentials_mean_tls(self):
        client = TallyClient("localhost:1", "key", root_certificates=b"")
        self.assertEqual(client.address, ("localhost:1", True))
        client.close()
        with self.assertRaisesRegex(ValueError, "use https://"):
            TallyClient("http://localhost:1", "key", credentials=grpc.ssl_channel_credentials())

    @unittest.skipUnless(PROTO_DIR, "TALLY_PROTO_DIR not set")
    def test_every_service_of_the_protos_has_a_stub(self):
        declared = set()
        for proto in pathlib.Path(PROTO_DIR, "tally").rglob("*.proto"):
            declared.update(re.findall(r"^service (\w+)", proto.read_text(), re.M))
        self.assertTrue(declared)
        self.assertEqual(set(SERVICES), declared)
        client = TallyClient("localhost:1", "key")
        for service in declared:
            self.assertIsNotNone(client.stub(service))
        client.close()


@unittest.skipUnless(ADDR and KEY, "TALLY_ADDR and TALLY_API_KEY not set")
class AgainstTheServer(unittest.TestCase):
    def call_in_every_form(self, addresses, **kwargs):
        for address in addresses:
            with self.subTest(address=address):
                with TallyClient(address, KEY, **kwargs) as tally:
                    tally.wait_ready(timeout=15)
                    res = tally.kpis.ListKpiDefinitions(kpi_pb2.ListKpiDefinitionsRequest(page_size=1))
                    self.assertEqual(len(res.kpi_definitions), 1)

    def test_host_port_and_http_are_plaintext(self):
        bare = parse_address(ADDR).target
        self.call_in_every_form([bare, f"http://{bare}", f"http://{bare}/"])

    @unittest.skipUnless(TLS_ADDR and TLS_ROOT, "TALLY_TLS_ADDR and TALLY_TLS_ROOT_CERT not set")
    def test_https_is_tls(self):
        root = pathlib.Path(TLS_ROOT).read_bytes()
        self.call_in_every_form([f"https://{TLS_ADDR}", TLS_ADDR], root_certificates=root)
        # Plaintext to the TLS port never connects.
        with TallyClient(f"http://{TLS_ADDR}", KEY) as tally:
            with self.assertRaisesRegex(TimeoutError, "plaintext"):
                tally.wait_ready(timeout=2)

    def test_list_all_follows_every_page(self):
        with TallyClient(ADDR, KEY) as tally:
            request = kpi_pb2.ListKpiDefinitionsRequest(page_size=3)
            paged = [d.id for d in tally.list_all(tally.kpis.ListKpiDefinitions, request)]
            whole = tally.kpis.ListKpiDefinitions(kpi_pb2.ListKpiDefinitionsRequest(page_size=1000))
            self.assertGreater(len(paged), 3)
            self.assertEqual(paged, [d.id for d in whole.kpi_definitions])
            self.assertEqual(request.page_token, "", "the caller's request is not changed")
            with self.assertRaisesRegex(TypeError, "not a List response"):
                list(tally.list_all(tally.kpis.SuggestKpis, kpi_pb2.SuggestKpisRequest(objective=1)))

    def test_errors_carry_their_details(self):
        with TallyClient(ADDR, KEY) as tally:
            with self.assertRaises(grpc.RpcError) as bad:
                tally.influencers.CreateInfluencer(
                    influencer_pb2.CreateInfluencerRequest(
                        influencer_id="Not An Id", influencer=influencer_pb2.Influencer()
                    )
                )
            d = error_details(bad.exception)
            self.assertEqual(d.code, grpc.StatusCode.INVALID_ARGUMENT)
            self.assertEqual((d.reason, d.domain), ("FIELD_INVALID", "tally.dev"))
            # Every bad field in one reply.
            self.assertEqual(
                [v.field for v in d.violations], ["influencer_id", "influencer.display_name"]
            )
            self.assertIsNone(d.retry_delay)
            self.assertIn("INVALID_ARGUMENT", str(d))

            with self.assertRaises(grpc.RpcError) as missing:
                tally.influencers.GetInfluencer(
                    influencer_pb2.GetInfluencerRequest(name="influencers/nobody")
                )
            d = error_details(missing.exception)
            self.assertEqual((d.code, d.reason), (grpc.StatusCode.NOT_FOUND, "RESOURCE_NOT_FOUND"))
            self.assertEqual(d.violations, [])

        with TallyClient(ADDR, "not-a-key") as stranger:
            with self.assertRaises(grpc.RpcError) as refused:
                stranger.jobs.ListJobs(job_pb2.ListJobsRequest())
            d = error_details(refused.exception)
            self.assertEqual(
                (d.code, d.reason), (grpc.StatusCode.UNAUTHENTICATED, "API_KEY_INVALID")
            )

    def test_a_computed_run_id_is_a_job_run(self):
        day = datetime.date(2026, 3, 1)
        with TallyClient(ADDR, KEY) as tally:
            run = tally.kpis.ComputeKpis(
                kpi_pb2.ComputeKpisRequest(first_day=date(day), last_day=date(day))
            )
            found = tally.jobs.GetJobRun(job_pb2.GetJobRunRequest(name=f"jobRuns/{run.run_id}"))
            self.assertEqual(found.trigger, "compute")
            values = tally.kpis.QuerySnapshots(
                kpi_pb2.QuerySnapshotsRequest(
                    kpi_scope=kpi_pb2.KpiScope(kpi="attributed_orders", scope="tenant"),
                    first_day=date(day),
                    last_day=date(day),
                    granularity=kpi_pb2.DAY,
                )
            ).values
            self.assertEqual([v.run_id for v in values], [run.run_id])


if __name__ == "__main__":
    unittest.main()
