"""PII at rest: canary identities (names no real person has, their e-mail, phone, document number, birthdate,
MRZ, TAN) go through whole sessions against the running service -- created by the bank, joined by the
customer, document stills and extracted data captured, approved, confirmed with the TAN over the customer
endpoint, result and evidence fetched by the bank, one session erased -- then every table of the database,
every file under the data dir (vault, logs, temporary files) and every file written to /tmp during the test
is scanned: 0 plaintext hits."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
import time
from datetime import date
from pathlib import Path
from typing import Any

import cv2
import httpx
import psycopg

from fixtures.documents import render_document
from pipelines.layouts import Template
from tests.hardening.drive import agent_for, create_session, join
from tests.hardening.harness import Server
from tests.hardening.stored import libpq_url
from videoident.vault import EvidenceKind

#: Three canary people (made-up names that occur nowhere else; letters only so the MRZ keeps them).
CANARIES = (("Qzyxandra", "Vexmorthalwick", "QZV4711CN", date(1937, 11, 23)),
            ("Jorvakkin", "Plumbrastovy", "JPV8822CN", date(1941, 5, 17)),
            ("Ulmefradi", "Snorkvalquist", "USQ9933CN", date(1952, 9, 8)))
#: Files larger than this are scanned in their first part only (none of ours is near it).
MAX_SCAN_BYTES = 64 * 1024 * 1024
TMP = Path(os.environ.get("TMPDIR", "/tmp"))  # noqa: S108 - the system's temporary folder is what we scan


def _needles(given: str, family: str, number: str, born: date, email: str, phone: str) -> tuple[set[bytes], set[bytes]]:
    """(strong, weak): strong needles are long and distinctive and searched in every byte; weak ones (dates)
    are searched in text only, where a random ciphertext cannot produce them by chance."""
    strong = {given, family, given.upper(), family.upper(), f"{family.upper()}<<{given.upper()}", number, email, phone}
    encoded = {s.encode() for s in strong} | {s.encode("utf-16-le") for s in (given, family)}
    weak = {born.isoformat().encode(), born.strftime("%d.%m.%Y").encode()}
    return encoded, weak


def _db_dump(server: Server) -> tuple[bytes, bytes]:
    """(text of every non-binary column, raw bytes of every binary column) of every table."""
    text, binary = bytearray(), bytearray()
    with psycopg.connect(libpq_url(server)) as conn:
        columns = conn.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public'").fetchall()
        for table, column, data_type in columns:
            for (value,) in conn.execute(f'SELECT "{column}" FROM "{table}"'):  # noqa: S608 - catalogue names
                if value is None:
                    continue
                if data_type == "bytea":
                    binary += bytes(value)
                else:
                    text += (value if isinstance(value, str) else json.dumps(value, default=str)).encode() + b"\n"
    return bytes(text), bytes(binary)


def _files(roots: list[Path], since: float) -> list[Path]:
    """Every regular file under the roots; under /tmp only those written since ``since`` (other jobs'
    files come and go while we walk: vanished ones are skipped)."""
    found = []
    for root in roots:
        for folder, _dirs, names in os.walk(root, onerror=lambda _exc: None):
            for name in names:
                path = Path(folder) / name
                try:
                    info = path.lstat()
                except OSError:
                    continue
                if stat.S_ISREG(info.st_mode) and (root != TMP or info.st_mtime >= since):
                    found.append(path)
    return found


def _scan(files: list[Path], strong: set[bytes], weak: set[bytes]) -> tuple[list[str], int]:
    """(hits, bytes scanned): strong needles in every file, weak ones in text files only."""
    hits: list[str] = []
    scanned = 0
    for path in files:
        try:
            data = path.read_bytes()[:MAX_SCAN_BYTES]
        except OSError:
            continue
        scanned += len(data)
        is_text = b"\x00" not in data[:4096]
        for needle in strong | (weak if is_text else set()):
            if needle in data:
                hits.append(f"{path}: {needle[:40]!r}")
    return hits, scanned


def test_no_plaintext_pii_at_rest(server: Server, figures: dict[str, Any], tmp_path: Path) -> None:
    started = time.time() - 1
    strong: set[bytes] = set()
    weak: set[bytes] = set()
    sessions = []
    with agent_for(server) as agent, server.client() as bank, \
            httpx.Client(base_url=server.base_url, timeout=60) as customer:
        for i, (given, family, number, born) in enumerate(CANARIES):
            email, phone = f"{given.lower()}.{family.lower()}@example.org", f"+4915{i}7731{i}9{i}42"
            s, w = _needles(given, family, number, born, email, phone)
            strong |= s
            weak |= w
            body = {"reference": f"pii-{i}", "purpose": "account_opening",
                    "claimed_identity": {"given_name": given, "family_name": family, "birthdate": born.isoformat(),
                                         "document_number": number, "nationality": "DEU"},
                    "contact": {"email": email, "phone": phone}, "locale": "de"}
            created = create_session(bank, body)
            assert join(customer, created.token).status_code == 200
            agent.core.start_call(created.id, "agent-pii")
            # The customer's document: a German ID card printed with the canary's data (and MRZ).
            plain = render_document(Template.DE_ID, seed=100 + i)
            holder = dataclasses.replace(plain.truth.holder, surname=family.upper(), given_names=given.upper(),
                                         document_number=number, birthdate=born)
            document = render_document(Template.DE_ID, seed=100 + i, holder=holder)
            strong |= {line.encode() for line in document.truth.mrz_lines}
            for kind, image in ((EvidenceKind.FRONT, document.front), (EvidenceKind.BACK, document.back)):
                assert image is not None
                png = cv2.imencode(".png", image[..., :3])[1].tobytes()
                agent.core.store_evidence(created.id, kind, png, "image/png", template=Template.DE_ID)
            extracted = json.dumps({"mrz": list(document.truth.mrz_lines), "name": f"{given} {family}"}).encode()
            agent.core.store_evidence(created.id, EvidenceKind.EXTRACTED_DATA, extracted, "application/json")
            agent.approve(created.id, agent_id="agent-pii")
            tan = agent.tan_for(phone)  # SMS when a phone is known
            weak.add(tan.encode())
            wrong = "000000" if tan != "000000" else "111111"
            assert customer.post(f"/ident/{created.token}/api/tan", json={"tan": wrong}).status_code == 200
            assert customer.post(f"/ident/{created.token}/api/tan", json={"tan": tan}).json()["status"] == "completed"
            result = bank.get(f"/v1/sessions/{created.id}/result").json()
            assert result["decision"] == "approved"
            for item in bank.get(f"/v1/sessions/{created.id}/evidence").json()["items"]:
                assert bank.get(item["href"]).status_code == 200
            sessions.append(created.id)
        assert bank.delete(f"/v1/sessions/{sessions[-1]}").status_code == 204
    time.sleep(1)  # let the server's log lines land
    text, binary = _db_dump(server)
    files = _files([server.data_dir, TMP], started)
    hits: list[str] = []
    scanned_bytes = len(text) + len(binary)
    for needle in strong:
        if needle in text or needle in binary:
            hits.append(f"database: {needle[:40]!r}")
    for needle in weak:
        if needle in text:
            hits.append(f"database text: {needle[:40]!r}")
    file_hits, file_bytes = _scan(files, strong, weak)
    hits += file_hits
    scanned_bytes += file_bytes
    # Positive control: the same scan finds a canary written in plaintext.
    control = tmp_path / "control" / "leak.log"
    control.parent.mkdir()
    control.write_text(f"customer {CANARIES[0][0]} {CANARIES[0][1]} born {CANARIES[0][3].isoformat()}")
    assert len(_scan(_files([control.parent], 0), strong, weak)[0]) == 3
    figures.update(sessions=len(sessions), canary_needles=len(strong) + len(weak), files_scanned=len(files),
                   bytes_scanned=scanned_bytes, plaintext_hits=len(hits), hits=hits[:10])
    assert len(files) > 5 and len(binary) > 0  # the scan did see the vault and the sealed columns
    assert hits == []
