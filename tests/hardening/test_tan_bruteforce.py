"""TAN brute force against the running service: 1,000 guesses over the customer endpoint across sessions in
``tan_pending``; not one succeeds, every session fails at its 3rd wrong entry (also when the guesses arrive
concurrently), and afterwards even the right TAN is refused."""

from __future__ import annotations

import random
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.hardening.drive import agent_for, create_session, join
from tests.hardening.harness import Server

#: 25 sessions x 40 guesses = 1,000 guesses (issue 12). Counting guesses are capped at 3 per session by the
#: core (TAN_MAX_FAILED_ATTEMPTS); the other 37 probe what an attacker gets after the failure.
SESSIONS = 25
GUESSES_PER_SESSION = 40
#: Guesses in flight at once per session: the 3-strike counter must hold under concurrency.
PARALLEL_GUESSES = 6
SEED = 12


def test_a_thousand_guesses_never_succeed(server: Server, figures: dict[str, object]) -> None:
    rng = random.Random(SEED)
    outcomes: Counter[str] = Counter()
    statuses_after: Counter[str] = Counter()
    counted_wrong_per_session: list[int] = []
    guesses = successes = 0
    with agent_for(server) as agent, server.client() as bank, \
            httpx.Client(base_url=server.base_url, timeout=60) as http, ThreadPoolExecutor(PARALLEL_GUESSES) as pool:
        for _ in range(SESSIONS):
            created = create_session(bank)
            assert join(http, created.token).status_code == 200
            agent.approve(created.id)
            real = agent.tan_for(created.email)
            wrong = [f"{n:06d}" for n in rng.sample(range(1_000_000), GUESSES_PER_SESSION + 1) if f"{n:06d}" != real]
            first, rest = wrong[:PARALLEL_GUESSES], wrong[PARALLEL_GUESSES:GUESSES_PER_SESSION - 1]

            def guess(code: str, token: str = created.token) -> httpx.Response:
                return http.post(f"/ident/{token}/api/tan", json={"tan": code})

            responses = list(pool.map(guess, first)) + [guess(code) for code in rest]
            responses.append(guess(real))  # the right TAN, after the failure
            guesses += len(responses)
            wrong_counted = 0
            for response in responses:
                assert response.status_code in (200, 404), response.text
                if response.status_code == 404:
                    outcomes["refused_404"] += 1
                    continue
                outcome = response.json()["outcome"]
                outcomes[outcome] += 1
                successes += outcome == "completed"
                wrong_counted += outcome in ("wrong", "failed")
            counted_wrong_per_session.append(wrong_counted)
            status = bank.get(f"/v1/sessions/{created.id}").json()["status"]
            statuses_after[status] += 1
    figures.update(guesses=guesses, sessions=SESSIONS, successes=successes, outcomes=dict(outcomes),
                   statuses_after=dict(statuses_after))
    assert guesses >= 1000
    assert successes == 0
    assert statuses_after == {"failed": SESSIONS}
    # Exactly three wrong entries counted per session, the third one failing it.
    assert set(counted_wrong_per_session) == {3}
    assert outcomes["failed"] == SESSIONS
