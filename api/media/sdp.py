"""SDP munging of the server's answer: let the browser send the bitrate 720p needs.

aiortc signals bandwidth with REMB only and Chrome starts near 300 kbit/s, so a 1280x720 camera arrives
downscaled to 640x360 (VP8) for the first tens of seconds, where an MRZ is unreadable. Chrome honours the
``x-google-{min,start,max}-bitrate`` fmtp parameters of the answer: measured in
../shared/notes/webrtc-browser-tests.md, they gave full 720p from the first frame.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Bitrate", "BITRATE_720P", "allow_bitrate", "negotiated_codecs", "validate_offer"]

#: Video codecs whose fmtp lines get the bitrate parameters (not rtx, red or ulpfec).
_VIDEO_CODECS = frozenset({"vp8", "vp9", "h264", "av1"})
_RTPMAP = re.compile(r"^a=rtpmap:(\d+) ([A-Za-z0-9-]+)/")
_FMTP = re.compile(r"^a=fmtp:(\d+) ?(.*)$")


@dataclass(frozen=True)
class Bitrate:
    """Video bitrates in kbit/s, as Chrome reads them from ``x-google-*-bitrate``."""

    min_kbps: int
    start_kbps: int
    max_kbps: int

    def __post_init__(self) -> None:
        if not 0 < self.min_kbps <= self.start_kbps <= self.max_kbps:
            raise ValueError(f"need 0 < min <= start <= max, got {self}")

    def fmtp_params(self) -> str:
        return (
            f"x-google-min-bitrate={self.min_kbps};x-google-start-bitrate={self.start_kbps};"
            f"x-google-max-bitrate={self.max_kbps}"
        )


#: 720p at about 2 Mbit/s was measured to arrive at full resolution with legible detail (notes/webrtc-
#: browser-tests.md: "720p at 2 Mbps"); a 600 kbit/s floor keeps 720p from collapsing to 360p when the
#: REMB estimate dips; 2.5 Mbit/s caps one customer's uplink use.
BITRATE_720P = Bitrate(min_kbps=600, start_kbps=2000, max_kbps=2500)


def allow_bitrate(sdp: str, bitrate: Bitrate = BITRATE_720P) -> str:
    """Add the bitrate parameters to every video codec's fmtp line of ``sdp`` (adding the line right after
    the codec's rtpmap if it has none). Audio sections and non-media codecs (rtx, red, ulpfec) are left
    alone. Idempotent."""
    sections: list[list[str]] = [[]]
    for line in sdp.splitlines():
        if line.startswith("m="):
            sections.append([])
        sections[-1].append(line)
    out: list[str] = list(sections[0])
    for section in sections[1:]:
        out.extend(_munge_section(section, bitrate) if section[0].startswith("m=video") else section)
    return "\r\n".join(out) + "\r\n"


def _munge_section(section: list[str], bitrate: Bitrate) -> list[str]:
    video_pts = {m.group(1) for m in map(_RTPMAP.match, section) if m and m.group(2).lower() in _VIDEO_CODECS}
    with_fmtp = {m.group(1) for m in map(_FMTP.match, section) if m and m.group(1) in video_pts}
    out: list[str] = []
    for line in section:
        fmtp = _FMTP.match(line)
        if fmtp and fmtp.group(1) in video_pts:
            params = [p for p in fmtp.group(2).split(";") if p and not p.startswith("x-google-")]
            line = f"a=fmtp:{fmtp.group(1)} " + ";".join([*params, bitrate.fmtp_params()])
        out.append(line)
        rtpmap = _RTPMAP.match(line)
        if rtpmap and rtpmap.group(1) in video_pts and rtpmap.group(1) not in with_fmtp:
            out.append(f"a=fmtp:{rtpmap.group(1)} {bitrate.fmtp_params()}")
    return out


def negotiated_codecs(sdp: str) -> dict[str, str]:
    """The codec each audio/video section of an answer will use (its first payload type), by kind."""
    codecs: dict[str, str] = {}
    kind, first_pt = "", ""
    for line in sdp.splitlines():
        if line.startswith("m="):
            parts = line[2:].split()
            kind, first_pt = parts[0], (parts[3] if len(parts) > 3 else "")
            continue
        match = _RTPMAP.match(line)
        if kind in ("audio", "video") and match and match.group(1) == first_pt:
            codecs.setdefault(kind, match.group(2))
    return codecs


def validate_offer(sdp: str) -> None:
    """Raise ValueError for an offer no call can come of: unparsable, or without a video section.

    Checked before anything is built or torn down, so a malformed offer neither drops a working peer nor
    leaves a live session behind (tests/hardening/test_inputs.py)."""
    from aiortc.sdp import SessionDescription

    try:
        parsed = SessionDescription.parse(sdp)
    except Exception as exc:  # aiortc's parser asserts, indexes and converts on trust: any error is a bad offer
        raise ValueError("the SDP offer cannot be parsed") from exc
    if not any(media.kind == "video" for media in parsed.media):
        raise ValueError("the SDP offer has no video section")
