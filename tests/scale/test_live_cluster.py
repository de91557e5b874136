"""One live session across two workers: two ``videoident serve`` processes on two ports (as behind a load
balancer) on one fresh PostgreSQL database, one vault folder and one Redis namespace.

The customer (aiortc, a synthetic camera) connects through worker A; the agent logs in, takes the call, reads
the live report, joins the video and captures a still through worker B, which forwards to A. Then A is
killed with SIGKILL: the customer's page reconnects through B, B takes the session over, and the call goes
on (the capture made before the crash is still there, a new capture and the decision work)."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aioice.ice
import httpx
import pyotp
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from argon2 import PasswordHasher, Type
from sqlalchemy import Engine
from websockets.asyncio.client import connect as ws_connect

from api.media.cluster import INTERNAL_HEADER, LiveCluster
from api.media.ice import loopback_host_addresses
from api.routers.customer import CONSENT_VERSION
from tests.conftest import fresh_postgres_database
from tests.hardening.harness import Server
from tests.scale.redis_support import RedisNamespace, fresh_redis_namespace
from tests.test_live_support import Customer, SyntheticCamera, new_customer_session, wait_until
from videoident.agents import AgentRole, AgentStore
from videoident.db import make_engine, make_sessionmaker
from videoident.service import IdentService
from videoident.settings import Settings

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

PASSWORD = "correct horse battery staple"
#: A cheap Argon2 for the test's account (the server verifies with the parameters stored in the hash).
LIGHT = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1, type=Type.ID)
#: A small camera keeps the in-thread analysis of two servers light on a shared 2-core machine.
CAMERA = (320, 240)


@dataclass
class Worker(Server):
    """A ``videoident serve`` process as one worker of the cluster (its own log in the shared data dir)."""

    name: str = "worker"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "logs" / f"{self.name}.log"


@dataclass
class Cluster:
    a: Worker
    b: Worker
    settings: Settings
    service: IdentService
    engine: Engine


@pytest.fixture(autouse=True)
def _loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aioice.ice, "get_host_addresses", loopback_host_addresses)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    master_key = base64.b64encode(secrets.token_bytes(32)).decode()
    with fresh_postgres_database("live_cluster") as database_url, fresh_redis_namespace() as ns:
        settings = Settings(environment="test", data_dir=tmp_path, database_url=database_url,  # type: ignore[arg-type]
                            master_key=master_key, redis_url=ns.url, redis_prefix=ns.prefix)
        engine = make_engine(database_url)
        service = IdentService.from_settings(settings, engine)  # migrates once, before either worker starts
        a, b = (_worker(tmp_path, database_url, master_key, ns, name) for name in ("a", "b"))
        try:
            _start_both(a, b)
            yield Cluster(a, b, settings, service, engine)
        finally:
            a.stop()
            b.stop()
            engine.dispose()


def _worker(data_dir: Path, database_url: str, master_key: str, ns: RedisNamespace, name: str) -> Worker:
    worker = Worker(data_dir, database_url, master_key, name=name)
    worker.extra_env.update(ns.env())
    worker.extra_env.update({
        "VIDEOIDENT_ENVIRONMENT": "test",
        "VIDEOIDENT_WORKER_ID": name,
        "VIDEOIDENT_WORKER_INTERNAL_URL": worker.base_url,
        "VIDEOIDENT_ANALYSIS_PROCESSES": "0",  # analysis in the server's thread: no pool processes to start
    })
    return worker


def _start_both(a: Worker, b: Worker) -> None:
    errors: list[BaseException] = []

    def start(worker: Worker) -> None:
        try:
            worker.start()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(w,)) for w in (a, b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


class Agent:
    """The agent's browser: a console session (cookie) and a receive-only peer for the customer's video."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.pc: RTCPeerConnection | None = None
        self.frames = 0

    async def join_video(self, session_id: str) -> httpx.Response:
        if self.pc is not None:
            await self.pc.close()
        self.pc = pc = RTCPeerConnection()
        pc.addTransceiver("video", direction="recvonly")
        pc.addTransceiver("audio", direction="recvonly")

        @pc.on("track")
        def on_track(track: Any) -> None:
            if track.kind == "video":
                asyncio.ensure_future(self._count(track))

        await pc.setLocalDescription(await pc.createOffer())
        response = await self.http.post(f"/console/api/calls/{session_id}/offer",
                                        json={"sdp": pc.localDescription.sdp, "type": "offer"})
        if response.status_code == 200:
            await pc.setRemoteDescription(RTCSessionDescription(**response.json()))
        return response

    async def _count(self, track: Any) -> None:
        while True:
            try:
                await track.recv()
            except Exception:  # MediaStreamError when the peer closes
                return
            self.frames += 1


async def _connect_customer(http: httpx.AsyncClient, token: str) -> tuple[Customer, httpx.Response]:
    customer = Customer(SyntheticCamera(*CAMERA))
    response = await http.post(f"/ident/{token}/api/offer", json={"sdp": await customer.offer(), "type": "offer"})
    if response.status_code == 200:
        await customer.accept(RTCSessionDescription(**response.json()))
    return customer, response


async def _live_frames(http: httpx.AsyncClient, session_id: str, minimum: int,
                       timeout_s: float = 30.0) -> dict[str, Any]:
    """Poll the console's live view until the serving live session has received ``minimum`` frames."""
    deadline = time.monotonic() + timeout_s
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = await http.get(f"/console/api/calls/{session_id}/live")
        assert response.status_code == 200, response.text
        body = response.json()
        if body["live"] is not None and body["live"]["frames_received"] >= minimum:
            return body
        await asyncio.sleep(0.3)
    raise AssertionError(f"no live frames through the console: {body.get('live')}")


async def test_a_live_session_spans_two_workers_and_survives_the_owner_being_killed(cluster: Cluster) -> None:
    a, b, service = cluster.a, cluster.b, cluster.service
    agents = AgentStore(make_sessionmaker(cluster.engine), cluster.settings.master_key_bytes, hasher=LIGHT)
    created = agents.create("agent-cluster", AgentRole.AGENT, PASSWORD)
    totp = pyotp.TOTP(pyotp.parse_uri(created.provisioning_uri).secret)
    session_id, token = new_customer_session(service)
    reader = LiveCluster(cluster.settings)  # what any worker reads from Redis
    customer: Customer | None = None
    agent: Agent | None = None
    async with httpx.AsyncClient(base_url=a.base_url, timeout=60) as via_a, \
            httpx.AsyncClient(base_url=b.base_url, timeout=60) as via_b:
        try:
            # The customer joins and connects through worker A, which becomes the owner.
            joined = await via_a.post(f"/ident/{token}/api/join",
                                      json={"consent": True, "consent_version": CONSENT_VERSION})
            assert joined.status_code == 200 and joined.json()["status"] == "waiting"
            customer, answer = await _connect_customer(via_a, token)
            assert answer.status_code == 200, answer.text
            owner = await reader.owner(session_id)
            assert owner is not None and owner.worker_id == "a"

            # The agent works through worker B: login, take the call, live report (forwarded to A).
            login = await via_b.post("/console/api/login",
                                     json={"name": "agent-cluster", "password": PASSWORD, "totp": totp.now()})
            assert login.status_code == 200, login.text
            taken = await via_b.post("/console/api/next")
            assert taken.json()["session_id"] == session_id
            live = await _live_frames(via_b, session_id, 10)
            assert live["status"] == "in_call" and "injection" in live["report"]
            # The owner's published snapshot reaches Redis for any worker.
            assert await wait_until(lambda: _snapshot_worker(reader, session_id) == "a", 10)
            # The customer's page state served by B (which holds no media) carries A's live checks and
            # guidance, so the customer is guided whichever worker the page's requests land on.
            seen_by_b = (await via_b.get(f"/ident/{token}/api/state")).json()
            assert seen_by_b["live"] is not None, seen_by_b
            assert seen_by_b["live"]["connection"] == "connected" and "injection" in seen_by_b["live"]["checks"]
            assert isinstance(seen_by_b["live"]["guidance"], list)
            # B's events socket pushes the same (and waits for A's next snapshot on pub/sub).
            async with ws_connect(f"{b.base_url.replace('http://', 'ws://')}/ident/{token}/api/events") as events_b:
                pushed = json.loads(await asyncio.wait_for(events_b.recv(), 10))
            assert pushed["live"] is not None and pushed["live"]["connection"] == "connected", pushed
            # A forged inter-worker header from outside is stripped: B still forwards (a locally served
            # live view would have no live section, B holds no media).
            forged = await via_b.get(f"/console/api/calls/{session_id}/live",
                                     headers={INTERNAL_HEADER: f"a.{int(time.time())}.{'0' * 64}"})
            assert forged.status_code == 200 and forged.json()["live"] is not None

            # The agent's video and a capture, through B, happen where the media is (A).
            agent = Agent(via_b)
            video = await agent.join_video(session_id)
            assert video.status_code == 200, video.text
            assert await wait_until(lambda: agent is not None and agent.frames >= 5, 20)
            face = await via_b.post(f"/console/api/calls/{session_id}/capture", json={"kind": "face"})
            assert face.status_code == 200, face.text
            first_capture = face.json()["items"]

            # Worker A dies. The customer's page reconnects (a new peer, through B): B takes over.
            a.kill9()
            await customer.pc.close()
            # Before the customer is back, B's live view shows the last report A published (pub/sub).
            gap = await via_b.get(f"/console/api/calls/{session_id}/live")
            assert gap.status_code == 200, gap.text
            assert gap.json()["live"]["owner"]["worker"] == "a" and "injection" in gap.json()["report"]
            customer, answer = await _connect_customer(via_b, token)
            assert answer.status_code == 200, answer.text
            owner = await reader.owner(session_id)
            assert owner is not None and owner.worker_id == "b"
            live = await _live_frames(via_b, session_id, 10)
            assert live["status"] == "in_call"
            # Nothing committed before the crash is lost: the capture is stored and listed to the agent.
            assert set(first_capture) <= {e.id for e in service.list_evidence(session_id)}
            assert set(first_capture) & {e["id"] for e in live["evidence"]}
            assert await wait_until(lambda: _snapshot_worker(reader, session_id) == "b", 10)

            # The agent rejoins the video and carries on: a capture, then the decision.
            video = await agent.join_video(session_id)
            assert video.status_code == 200, video.text
            frames_before = agent.frames
            assert await wait_until(lambda: agent is not None and agent.frames >= frames_before + 5, 20)
            face = await via_b.post(f"/console/api/calls/{session_id}/capture", json={"kind": "face"})
            assert face.status_code == 200, face.text
            decided = await via_b.post(f"/console/api/calls/{session_id}/decision",
                                       json={"decision": "aborted", "reason_code": "customer_cancelled"})
            assert decided.status_code == 200, decided.text
            assert decided.json()["status"] == "aborted"
            assert await reader.owner(session_id) is None  # the live session closed: its lease released
            kinds = [e.kind for e in service.list_evidence(session_id)]
            assert kinds.count("face") >= 2, kinds
        finally:
            if customer is not None:
                await customer.pc.close()
            if agent is not None and agent.pc is not None:
                await agent.pc.close()
            await reader.redis.aclose()


def _snapshot_worker(reader: LiveCluster, session_id: str) -> str | None:
    snapshot = reader.latest(session_id)
    return snapshot.worker_id if snapshot is not None else None
