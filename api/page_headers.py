"""Security headers of the HTML pages (customer page, agent console).

No framing, no referrer (the customer link holds the token), no caching, the camera for this origin only,
and a strict Content-Security-Policy: every script and style comes from this origin, no inline code.
"""

from __future__ import annotations

__all__ = ["page_headers"]


def page_headers(*, img_blob: bool = False) -> dict[str, str]:
    """The headers for an HTML page; ``img_blob`` allows ``blob:`` images (the console's zoomed stills)."""
    img_src = "'self' data: blob:" if img_blob else "'self' data:"
    return {
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Permissions-Policy": "camera=(self), microphone=(self), geolocation=()",
        "Content-Security-Policy": (
            f"default-src 'self'; script-src 'self'; style-src 'self'; img-src {img_src}; "
            "media-src 'self' blob: mediastream:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
        ),
    }
