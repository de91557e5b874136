"""The transition table: what may follow what, and what never may."""

from __future__ import annotations

import itertools

import pytest

from videoident.states import (
    DECIDED,
    REASONS_BY_DECISION,
    TERMINAL,
    TRANSITIONS,
    Decision,
    IllegalTransition,
    ReasonCode,
    SessionStatus,
    bank_status,
    can_transition,
    check_transition,
)

S = SessionStatus


def test_every_status_has_a_row_and_terminal_ones_lead_nowhere() -> None:
    assert set(TRANSITIONS) == set(SessionStatus)
    assert TERMINAL == {S.REJECTED, S.ABORTED, S.COMPLETED, S.EXPIRED, S.FAILED, S.CANCELLED}
    for status in TERMINAL:
        for target in SessionStatus:
            with pytest.raises(IllegalTransition):
                check_transition(status, target)


def test_the_happy_path_is_legal_step_by_step() -> None:
    path = [S.CREATED, S.WAITING, S.IN_CALL, S.APPROVED, S.TAN_PENDING, S.COMPLETED]
    for current, target in itertools.pairwise(path):
        check_transition(current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.CREATED, S.IN_CALL),  # no agent before the customer is waiting
        (S.CREATED, S.APPROVED),
        (S.WAITING, S.APPROVED),  # no decision without a call
        (S.IN_CALL, S.TAN_PENDING),  # no TAN before approval
        (S.IN_CALL, S.COMPLETED),
        (S.REVIEW, S.TAN_PENDING),  # four-eyes must decide first
        (S.APPROVED, S.COMPLETED),  # completion needs the TAN
        (S.TAN_PENDING, S.APPROVED),
        (S.IN_CALL, S.EXPIRED),  # a live call is never expired under the agent's feet
        (S.COMPLETED, S.ABORTED),
        (S.REVIEW, S.CANCELLED),  # the customer cancels before the decision, not during four-eyes review
        (S.APPROVED, S.CANCELLED),
        (S.TAN_PENDING, S.CANCELLED),
        (S.CANCELLED, S.APPROVED),
    ],
)
def test_shortcuts_raise(current: SessionStatus, target: SessionStatus) -> None:
    assert not can_transition(current, target)
    with pytest.raises(IllegalTransition, match=f"{current.value} -> {target.value}"):
        check_transition(current, target)


def test_every_status_is_reachable_from_created() -> None:
    seen, frontier = {S.CREATED}, [S.CREATED]
    while frontier:
        for target in TRANSITIONS[frontier.pop()]:
            if target not in seen:
                seen.add(target)
                frontier.append(target)
    assert seen == set(SessionStatus)


def test_reason_codes_belong_to_exactly_one_decision() -> None:
    owners = [decision for decision, codes in REASONS_BY_DECISION.items() for _ in codes]
    assert len(owners) == sum(len(c) for c in REASONS_BY_DECISION.values())
    all_codes = set().union(*REASONS_BY_DECISION.values())
    assert len(all_codes) == len(owners)
    assert all_codes | {ReasonCode.SESSION_EXPIRED, ReasonCode.TAN_ATTEMPTS_EXHAUSTED} == set(ReasonCode)
    assert {S(d.value) for d in Decision} == DECIDED


def test_banks_never_see_the_internal_review_status() -> None:
    assert bank_status(S.REVIEW) is S.IN_CALL
    assert all(bank_status(s) is s for s in SessionStatus if s is not S.REVIEW)
