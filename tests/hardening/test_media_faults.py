"""Media faults against the running service, with aiortc customers (no browser): while customer B streams
steadily, customer A changes resolution mid-stream, its server ports are sprayed with corrupt and truncated
datagrams (random bytes, cut-off RTP and DTLS records), and A vanishes. B's connection stays up, its live
analysis keeps arriving with the same verdicts, and the service answers throughout."""

from __future__ import annotations

import asyncio
import random
import re
import socket
from typing import Any

import aioice.ice
import httpx
import pytest
from aiortc import RTCSessionDescription

from api.media.ice import loopback_host_addresses
from tests.hardening.drive import create_session, join
from tests.hardening.harness import Server
from tests.test_live_support import Customer, SyntheticCamera, wait_until

SEED = 12
#: Datagrams sprayed at each of A's server ports.
CORRUPT_DATAGRAMS = 300
#: B must receive this many further "checks" messages (one every 2 s) after the faults.
CHECKS_AFTER = 3


@pytest.fixture
def loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aioice.ice, "get_host_addresses", loopback_host_addresses)


async def _connect(http: httpx.AsyncClient, token: str, customer: Customer) -> str:
    response = await http.post(f"/ident/{token}/api/offer", json={"sdp": await customer.offer(), "type": "offer"})
    assert response.status_code == 200, response.text
    answer = response.json()
    await customer.accept(RTCSessionDescription(answer["sdp"], answer["type"]))
    return str(answer["sdp"])


def _checks(customer: Customer) -> list[dict[str, Any]]:
    return [m["checks"] for m in customer.messages if m.get("type") == "checks"]


def _settled(customer: Customer) -> bool:
    checks = _checks(customer)
    return len(checks) >= 3 and checks[-1] == checks[-2] and "inconclusive" != checks[-1].get("injection")


def _spray(answer_sdp: str, rng: random.Random) -> int:
    ports = {int(p) for p in re.findall(r"a=candidate:\S+ \d+ udp \d+ 127\.0\.0\.1 (\d+)", answer_sdp)}
    sent = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for port in ports:
            for i in range(CORRUPT_DATAGRAMS):
                kind = i % 3
                if kind == 0:  # noise
                    payload = rng.randbytes(rng.randint(1, 1200))
                elif kind == 1:  # a truncated RTP header (version 2, VP8 payload type range)
                    payload = bytes([0x80, 0x60 + rng.randint(0, 31)]) + rng.randbytes(rng.randint(0, 9))
                else:  # a cut-off DTLS application-data record
                    payload = bytes([23, 0xFE, 0xFD]) + rng.randbytes(rng.randint(0, 20))
                sock.sendto(payload, ("127.0.0.1", port))
                sent += 1
    return sent


async def test_faults_of_one_customer_leave_the_others_alone(server: Server, loopback: None,
                                                              figures: dict[str, Any]) -> None:
    rng = random.Random(SEED)
    with server.client() as bank:
        a, b = create_session(bank), create_session(bank)
        for created in (a, b):
            assert join(bank, created.token).status_code == 200
    camera_a, camera_b = SyntheticCamera(), SyntheticCamera()
    customer_a, customer_b = Customer(camera_a), Customer(camera_b)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as http:
        try:
            await _connect(http, b.token, customer_b)
            answer_a = await _connect(http, a.token, customer_a)
            # B's analysis settles (evidence accumulates at first): two equal "checks" messages in a row.
            assert await wait_until(lambda: _settled(customer_b), timeout_s=120)
            assert await wait_until(lambda: len(_checks(customer_a)) >= 1, timeout_s=90)
            before = _checks(customer_b)[-1]
            seen = len(_checks(customer_b))
            # A turns its phone: the picture size changes mid-stream.
            camera_a.width, camera_a.height = 480, 640
            await asyncio.sleep(2)
            # Corrupt and truncated datagrams at A's server ports.
            sprayed = await asyncio.to_thread(_spray, answer_a, rng)
            # A vanishes without a word.
            await customer_a.pc.close()
            assert await wait_until(lambda: len(_checks(customer_b)) >= seen + CHECKS_AFTER, timeout_s=90)
            after = _checks(customer_b)[-1]
            state_b = (await http.get(f"/ident/{b.token}/api/state")).json()
            state_a = await http.get(f"/ident/{a.token}/api/state")
            health = (await http.get("/healthz")).status_code
        finally:
            await customer_a.pc.close()
            await customer_b.pc.close()
    figures.update(datagrams_sprayed=sprayed, b_checks_messages=len(_checks(customer_b)),
                   b_connection=state_b["live"] and state_b["live"]["connection"], b_checks_before=before,
                   b_checks_after=after, a_state_status=state_a.status_code, health=health)
    assert sprayed > 0
    assert health == 200 and state_a.status_code == 200
    assert state_b["live"]["connection"] == "connected"
    assert after == before
