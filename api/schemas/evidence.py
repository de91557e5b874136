"""Evidence items as the bank sees them: the export variant (masked per the tenant's export policy)."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, Field

from videoident.views import EvidenceView

__all__ = ["EvidenceItemPublic", "EvidenceList"]


class EvidenceItemPublic(BaseModel):
    id: str
    kind: str = Field(examples=["front"], description="front | back | face | ...")
    media_type: str = Field(examples=["image/png"])
    size_bytes: int = Field(ge=0)
    masked_fields: list[str] | None = Field(
        default=None, examples=[["can"]], description="Fields masked in this image (pixels replaced)."
    )
    created_at: AwareDatetime
    href: str = Field(examples=["/v1/sessions/5b0d.../evidence/9f1c..."])

    @classmethod
    def of(cls, item: EvidenceView, session_id: str) -> EvidenceItemPublic:
        return cls(id=item.id, kind=item.kind, media_type=item.media_type, size_bytes=item.size_bytes,
                   masked_fields=list(item.masked_fields) if item.masked_fields is not None else None,
                   created_at=item.created_at, href=f"/v1/sessions/{session_id}/evidence/{item.id}")


class EvidenceList(BaseModel):
    items: list[EvidenceItemPublic]
