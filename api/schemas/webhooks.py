"""Webhook secret rotation and the event a bank's receiver gets."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, Field

__all__ = ["WebhookDeliveryList", "WebhookDeliveryPublic", "WebhookEvent", "WebhookSecretRotated"]


class WebhookSecretRotated(BaseModel):
    webhook_secret: str = Field(description="The new signing secret; shown once.")
    previous_valid_until: AwareDatetime = Field(
        description="Until then deliveries carry a v1= signature under the old secret too."
    )


class WebhookEvent(BaseModel):
    """The JSON body POSTed to ``callback_url`` (documentation; signed as ``Videoident-Signature``)."""

    id: str = Field(examples=["evt_a3k2..."], description="Also in the Videoident-Event-Id header; dedupe on it.")
    type: str = Field(examples=["session.status_changed"],
                      description="session.created | session.status_changed | session.erased")
    created_at: AwareDatetime
    data: dict[str, str | None] = Field(examples=[{"session_id": "5b0d...", "reference": "order-4711",
                                                   "status": "completed", "previous_status": "tan_pending"}])


class WebhookDeliveryPublic(BaseModel):
    event_id: str = Field(examples=["evt_a3k2..."])
    type: str = Field(examples=["session.status_changed"])
    session_id: str | None = None
    status: str = Field(examples=["dead"], description="pending | delivered | dead")
    attempts: int = Field(ge=0)
    last_status_code: int | None = Field(default=None, examples=[503])
    last_error: str | None = Field(default=None, examples=["HTTP 503"])
    created_at: AwareDatetime
    next_attempt_at: AwareDatetime | None = Field(default=None, description="For pending deliveries.")
    delivered_at: AwareDatetime | None = None


class WebhookDeliveryList(BaseModel):
    items: list[WebhookDeliveryPublic]
