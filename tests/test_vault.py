# ruff: noqa: F811 - pytest fixtures imported from tests/test_core_support.py are redefined as arguments
"""The evidence vault: sealed at rest, bound to session and item, atomic under kill -9."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.test_core_support import (  # noqa: F401 - fixtures
    FakeClock,
    clock,
    engine,
    keyring,
    new_session,
    notifier,
    postgres_url,
    service,
)
from videoident import audit
from videoident.crypto import DecryptionError, KeyRing, new_data_key
from videoident.db import make_sessionmaker
from videoident.notify import MemoryNotifier
from videoident.service import IdentService
from videoident.vault import EvidenceKind, EvidenceVault, Variant, VaultError

REPO = Path(__file__).resolve().parent.parent
BANK = audit.Actor(audit.ActorType.BANK, "bank")


def test_round_trip_and_nothing_readable_at_rest(tmp_path: Path) -> None:
    vault = EvidenceVault(tmp_path)
    key = new_data_key()
    secret = b"P<UTOERIKSSON<<ANNA<MARIA" * 100
    relative = vault.write("s-1", "i-1", key, secret)
    on_disk = (tmp_path / relative).read_bytes()
    assert b"ERIKSSON" not in on_disk and len(on_disk) == len(secret) + 1 + 12 + 16
    assert (tmp_path / relative).stat().st_mode & 0o077 == 0
    assert vault.read("s-1", "i-1", key) == secret


def test_a_blob_moved_to_another_session_or_item_does_not_open(tmp_path: Path) -> None:
    vault = EvidenceVault(tmp_path)
    key = new_data_key()  # even with the same key: the associated data names session and item
    relative = vault.write("s-1", "i-1", key, b"front still")
    with pytest.raises(DecryptionError):
        vault.read_file(relative, "s-2", "i-1", key)
    with pytest.raises(DecryptionError):
        vault.read_file(relative, "s-1", "i-2", key)
    target = tmp_path / vault.relative_path("s-2", "i-1")
    target.parent.mkdir(parents=True)
    shutil.copy(tmp_path / relative, target)
    with pytest.raises(DecryptionError):
        vault.read("s-2", "i-1", key)


def test_tampering_is_detected(tmp_path: Path) -> None:
    vault = EvidenceVault(tmp_path)
    key = new_data_key()
    path = tmp_path / vault.write("s-1", "i-1", key, b"face still")
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(DecryptionError):
        vault.read("s-1", "i-1", key)


def test_ids_cannot_escape_the_vault(tmp_path: Path) -> None:
    vault = EvidenceVault(tmp_path / "vault")
    with pytest.raises(VaultError):
        vault.write("../../etc", "passwd", new_data_key(), b"x")


def test_wrapped_data_keys_are_bound_to_their_session() -> None:
    ring = KeyRing("k1", os.urandom(32))
    wrapped = ring.wrap(new_data_key(), "s-1")
    with pytest.raises(DecryptionError):
        ring.unwrap(wrapped, "s-2")


def test_evidence_rows_point_at_sealed_files(service: IdentService, tmp_path: Path) -> None:
    session_id, _ = new_session(service)
    [stored, exported] = service.store_evidence(session_id, EvidenceKind.FACE, b"\x89PNG face", "image/png")
    assert (stored.variant, exported.variant) == (Variant.STORED.value, Variant.EXPORT.value)
    view, data = service.read_evidence(session_id, exported.id, BANK)
    assert data == b"\x89PNG face" and view.id == exported.id
    from videoident.errors import NotFound

    with pytest.raises(NotFound):  # the bank downloads export variants only
        service.read_evidence(session_id, stored.id, BANK)
    assert service.read_evidence(session_id, stored.id, BANK, export=False)[1] == b"\x89PNG face"
    [segment] = service.store_evidence(session_id, EvidenceKind.RECORDING_SEGMENT, b"webm", "video/webm")
    assert segment.masked_fields is None and not segment.exportable


CHILD = textwrap.dedent("""
    import os, sys
    from videoident.crypto import KeyRing
    from videoident.db import make_engine, make_sessionmaker
    from videoident.notify import MemoryNotifier
    from videoident.service import IdentService
    from videoident.vault import EvidenceKind, EvidenceVault

    url, vault_dir, key_hex, session_id = sys.argv[1:5]
    service = IdentService(make_sessionmaker(make_engine(url)), KeyRing("k1", bytes.fromhex(key_hex)),
                           EvidenceVault(__import__("pathlib").Path(vault_dir)), MemoryNotifier())
    i = 0
    while True:
        blob = bytes([i % 251]) * (6 * 1024 * 1024)
        items = service.store_evidence(session_id, EvidenceKind.RECORDING_SEGMENT, blob, "video/webm")
        print(items[0].id, i % 251, flush=True)  # printed only after the transaction committed
        i += 1
""")


def test_kill_9_during_evidence_writes_loses_no_committed_item(engine: Engine, tmp_path: Path,  # noqa: F811
                                                               clock: FakeClock) -> None:  # noqa: F811
    ring = KeyRing("k1", os.urandom(32))
    vault_dir = tmp_path / "vault"
    service = IdentService(make_sessionmaker(engine), ring, EvidenceVault(vault_dir), MemoryNotifier())
    session_id, _ = new_session(service)
    url = engine.url.render_as_string(hide_password=False)
    committed: dict[str, int] = {}
    for round_ in range(3):  # three crashes at different moments
        child = subprocess.Popen([sys.executable, "-c", CHILD, url, str(vault_dir), ring.current.hex(), session_id],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO, text=True)
        assert child.stdout is not None
        for _ in range(2 + round_):
            line = child.stdout.readline()
            assert line, child.stderr.read() if child.stderr else "child died"
            item_id, fill = line.split()
            committed[item_id] = int(fill)
        time.sleep(0.01 + 0.07 * round_)  # land inside the next write at varying points
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        for line in child.stdout.read().splitlines():  # commits that raced the kill
            item_id, fill = line.split()
            committed[item_id] = int(fill)
        child.stdout.close()
        if child.stderr:
            child.stderr.close()
    # Restart: every committed item is there and opens whole; no row without its file.
    restarted = IdentService(make_sessionmaker(engine), ring, EvidenceVault(vault_dir), MemoryNotifier())

    report = restarted.recover(min_age_s=0)
    rows = {e.id: e for e in restarted.list_evidence(session_id)}
    assert set(committed) <= set(rows)
    for item_id, row in rows.items():
        _, data = restarted.read_evidence(session_id, item_id, BANK, export=False)
        assert len(data) == row.size_bytes == 6 * 1024 * 1024
        if item_id in committed:
            assert data[:1] == data[-1:] == bytes([committed[item_id]])
    assert not list(vault_dir.rglob("*.tmp")), "recover() removes interrupted writes"
    assert sorted(p.stem for p in vault_dir.rglob("*.sealed")) == sorted(rows)
    assert report.removed_temp_files + report.removed_orphans >= 0
    assert restarted.verify_audit().ok


def test_rotation_keyring_semantics() -> None:
    from videoident.crypto import UnknownKeyError, WrappedKey

    old = KeyRing("k1", os.urandom(32))
    data_key = new_data_key()
    wrapped = old.wrap(data_key, "s-1")
    assert wrapped.master_key_id == "k1" and data_key not in wrapped.wrapped
    during = KeyRing("k2", os.urandom(32), {"k1": old.current})
    rewrapped = during.rewrap(wrapped, "s-1")
    assert rewrapped.master_key_id == "k2" and during.unwrap(rewrapped, "s-1") == data_key
    assert during.unwrap(wrapped, "s-1") == data_key  # old-wrapped keys still open mid-rotation
    after = KeyRing("k2", during.current)  # the old master key is retired
    with pytest.raises(UnknownKeyError):
        after.unwrap(wrapped, "s-1")
    with pytest.raises(DecryptionError):  # a wrapped key claiming the wrong master key id does not open
        after.unwrap(WrappedKey("k2", wrapped.wrapped), "s-1")
    assert during.tan_key("k1") != during.tan_key("k2") and len(during.tan_key("k2")) == 32
    with pytest.raises(ValueError):
        KeyRing("k1", b"short")


def test_no_evidence_after_the_session_ended_or_was_erased(service: IdentService, tmp_path: Path) -> None:
    from videoident.states import Decision, ReasonCode

    session_id, _ = new_session(service)
    service.decide(session_id, "agent-1", Decision.ABORTED, ReasonCode.CONNECTION_LOST)
    with pytest.raises(ValueError, match="ended"):
        service.store_evidence(session_id, EvidenceKind.FACE, b"late", "image/png")
    service.erase(session_id, BANK)
    from videoident.errors import Erased

    with pytest.raises((ValueError, Erased)):
        service.store_evidence(session_id, EvidenceKind.FACE, b"late", "image/png")
    assert not list((tmp_path / "vault").rglob("*.sealed"))
