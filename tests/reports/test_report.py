"""Incident reports (issue 17): a room with text, mentions, an image, a file, incident data,
an edit, a deletion, role and status changes, reported in every format, for an OWNER and for a
VIEWER; a non-member refused; a tampered audit row reported as tampered; the CLI."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import httpx
import pytest
from bs4 import BeautifulSoup
from PIL import Image
from pypdf import PdfReader

from tests.support.clients import Api, User, WsClient
from tests.support.servers import ROOT
from tests.workers.conftest import Stack, eventually

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(300)]

SECRET = "wrong room: 機密 password hint"
ORIGINAL = "oven zone 4 at 250°C"
EDITED = "oven zone 4 at 260°C 烤箱溫度異常"
GMT8 = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d GMT\+8")


@dataclass
class Incident:
    room_id: str
    title: str
    owner: User
    editor: User
    viewer: User
    outsider: User
    seqs: dict[str, int]


def _png() -> bytes:
    img = Image.new("RGB", (640, 400), (200, 40, 40))
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


async def _upload(client: Api, user: User, room_id: str, name: str, data: bytes) -> dict[str, Any]:
    r = await client.http.post(
        f"/api/rooms/{room_id}/files",
        files={"file": (name, io.BytesIO(data), "application/octet-stream")},
        headers=user.headers,
    )
    assert r.status_code == 201, r.text
    info: dict[str, Any] = r.json()
    return info


async def _sent(ws: WsClient, content: Any, **extra: Any) -> int:
    ack = await ws.send_message(content, **extra)
    return int(ack["sequence_number"])


async def _build(client: Api, pg: asyncpg.Connection) -> Incident:
    owner = await client.user("alice", display_name="Alice 王")
    editor = await client.user("bob", display_name="Bob Chen")
    viewer = await client.user("carol", display_name="Carol 林")
    outsider = await client.user("dave")
    title = "產線 3 停機 / Line 3 outage"
    room_id = await client.room(owner, title)
    await client.add_member(owner, room_id, editor, "EDITOR")
    await client.add_member(owner, room_id, viewer, "EDITOR")
    r = await client.http.patch(
        f"/api/rooms/{room_id}/members/{viewer.user_id}", json={"role": "VIEWER"}, headers=owner.headers
    )
    assert r.status_code == 200, r.text
    seqs: dict[str, int] = {}
    ws = await client.connect(owner, room_id)
    bws = await client.connect(editor, room_id)
    try:
        seqs["first"] = await _sent(ws, "烤箱溫度異常，開始調查 oven temperature alarm")
        seqs["mention"] = await _sent(ws, "@Bob Chen please check the conveyor", mentions=[editor.user_id])
        image = await _upload(client, owner, room_id, "defect.png", _png())
        seqs["image"] = await _sent(ws, "defect photo", message_type="image_ref", file_id=image["file_id"])
        doc = await _upload(client, editor, room_id, "runbook 手冊.txt", b"step 1: stop the line\n")
        seqs["file"] = await _sent(bws, "", message_type="file_ref", file_id=doc["file_id"])
        for i, (temp, kpa) in enumerate([(250, 101.3), (262.5, 99.8), (241, 100.4)]):
            seqs[f"data{i}"] = await _sent(
                bws,
                {"temp_c": temp, "pressure": {"kpa": kpa}, "line": "L3", "ok": i == 2}
                | ({"note": "=HYPERLINK(1)"} if i == 1 else {})
                | ({"_units": {"temp_c": "°C"}} if i == 0 else {}),
                message_type="incident_data",
            )
        seqs["edited"] = await _sent(ws, ORIGINAL)
        await ws.send(
            {
                "type": "edit_message",
                "message_id": (await _id(pg, room_id, seqs["edited"])),
                "content": EDITED,
            }
        )
        await ws.next("message_edited")
        seqs["deleted"] = await _sent(ws, SECRET)
        await ws.send({"type": "delete_message", "message_id": (await _id(pg, room_id, seqs["deleted"]))})
        await ws.next("message_deleted")
        seqs["last"] = await _sent(bws, "line restarted, monitoring")
    finally:
        await ws.close()
        await bws.close()
    r = await client.http.patch(f"/api/rooms/{room_id}", json={"status": "resolved"}, headers=owner.headers)
    assert r.status_code == 200, r.text

    async def chained() -> bool:
        n = await pg.fetchval("SELECT count(*) FROM audit_log WHERE room_id = $1", room_id)
        return int(n) >= 2

    await eventually(chained, what="the edit and the deletion in the audit chain")
    return Incident(room_id, title, owner, editor, viewer, outsider, seqs)


async def _id(pg: asyncpg.Connection, room_id: str, seq: int) -> str:
    value = await pg.fetchval(
        "SELECT message_id FROM messages WHERE room_id = $1 AND sequence_number = $2", room_id, seq
    )
    return str(value)


_INCIDENT: Incident | None = None
_LOCK = asyncio.Lock()


async def _incident(client: Api, pg: asyncpg.Connection) -> Incident:
    global _INCIDENT
    async with _LOCK:
        if _INCIDENT is None:
            _INCIDENT = await _build(client, pg)
        return _INCIDENT


async def _get(client: Api, user: User, room_id: str, fmt: str, **params: str) -> httpx.Response:
    return await client.http.get(
        f"/api/rooms/{room_id}/report", params={"format": fmt, **params}, headers=user.headers, timeout=120
    )


async def test_html_report_for_the_owner_has_everything_in_order(client: Api, pg: asyncpg.Connection) -> None:
    inc = await _incident(client, pg)
    r = await _get(client, inc.owner, inc.room_id, "html")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    disposition = r.headers["content-disposition"]
    assert disposition.startswith("attachment") and re.search(r"\d{4}-\d\d-\d\d\.html", disposition)
    assert "filename*=UTF-8''" in disposition and "%E7%94%A2%E7%B7%9A" in disposition  # 產線
    assert "sandbox" in r.headers["content-security-policy"]
    soup = BeautifulSoup(r.text, "html.parser")
    assert soup.select_one("#title").get_text() == inc.title
    assert not soup.find("script")

    summary = soup.select_one("#summary").get_text(" ")
    assert "resolved" in summary and "Duration" in summary and "complete" in summary
    history = soup.select_one("#status-history").get_text(" ")
    assert "active → resolved" in history and "Alice 王" in history
    participants = {
        tr.find_all("td")[1].get_text(): tr.find_all("td")[2].get_text()
        for tr in soup.select("#participants tbody tr")
    }
    assert participants == {
        inc.owner.user_id: "OWNER",
        inc.editor.user_id: "EDITOR",
        inc.viewer.user_id: "VIEWER",
    }
    roles = soup.select_one("#participants .role-changes").get_text(" ")
    assert "changed the role of Carol 林 to VIEWER" in roles

    items = soup.select("#timeline li")
    seqs = [int(li["data-seq"]) for li in items]
    assert seqs == sorted(seqs) and len(seqs) == seqs[-1]
    for li in items:
        assert GMT8.search(li.select_one(".meta time").get_text())
    by_seq = {int(li["data-seq"]): li for li in items}
    assert "Alice 王" in by_seq[inc.seqs["first"]].get_text()
    assert by_seq[inc.seqs["mention"]].select_one("mark.mention").get_text() == "@Bob Chen"
    img = by_seq[inc.seqs["image"]].select_one("img.thumb")
    assert img is not None and img["src"].startswith("data:image/jpeg;base64,")
    file_link = by_seq[inc.seqs["file"]].select_one("a")
    assert file_link.get_text() == "runbook 手冊.txt" and re.search(
        r"/api/files/[0-9a-f-]{36}$", file_link["href"]
    )
    assert (
        EDITED in by_seq[inc.seqs["edited"]].get_text() and "edited" in by_seq[inc.seqs["edited"]].get_text()
    )
    deleted = by_seq[inc.seqs["deleted"]]
    assert "deleted" in deleted["class"] and SECRET in deleted.get_text()  # the OWNER sees it, struck out
    assert "changed the status from active to resolved" in items[-1].get_text()

    charts = {fig["data-field"]: fig for fig in soup.select("#charts figure.chart")}
    assert set(charts) == {"temp_c", "pressure.kpa"}
    assert charts["temp_c"].img["src"].startswith("data:image/svg+xml;base64,")
    assert "temp_c (°C): 3 values, min 241, max 262.5, last 241" in charts["temp_c"].get_text()
    # A reading shows its unit; the units are not a reading of their own.
    data_row = by_seq[inc.seqs["data0"]]
    assert "250 °C" in data_row.get_text() and "_units" not in data_row.get_text()

    files = soup.select_one("#files").get_text(" ")
    assert "defect.png" in files and "runbook 手冊.txt" in files
    edits = soup.select_one("#edits").find_next("table").get_text(" ")
    assert ORIGINAL in edits and EDITED in edits
    deletions = soup.select_one("#deletions").find_next("table").get_text(" ")
    assert SECRET in deletions and "Alice 王" in deletions
    assert "chain intact" in soup.select_one("#audit-result").get_text()


async def test_viewer_report_has_no_deleted_content_and_no_edit_history(
    client: Api, pg: asyncpg.Connection
) -> None:
    inc = await _incident(client, pg)
    for fmt in ("html", "md", "json", "csv"):
        r = await _get(client, inc.viewer, inc.room_id, fmt)
        assert r.status_code == 200, (fmt, r.text)
        assert SECRET not in r.text, fmt
        assert ORIGINAL not in r.text, fmt  # the version before the edit
        assert EDITED in r.text or fmt == "csv"
    soup = BeautifulSoup((await _get(client, inc.viewer, inc.room_id, "html")).text, "html.parser")
    deleted = soup.select_one(f'#timeline li[data-seq="{inc.seqs["deleted"]}"]')
    assert "This message was deleted." in deleted.get_text() and "Alice 王" in deleted.get_text()
    assert "OWNER and system admins only" in soup.select_one("#edits").find_next("p").get_text()
    body = (await _get(client, inc.viewer, inc.room_id, "json")).json()
    assert body["edits"] is None and all(d["content"] is None for d in body["deletions"])
    assert body["report"]["reader"] == {"user_id": inc.viewer.user_id, "role": "VIEWER", "complete": False}


async def test_a_non_member_is_refused_and_bad_input_is_an_error(client: Api, pg: asyncpg.Connection) -> None:
    inc = await _incident(client, pg)
    r = await _get(client, inc.outsider, inc.room_id, "html")
    assert r.status_code == 403 and "not a member" in r.text
    history = await client.http.get(f"/api/rooms/{inc.room_id}/messages", headers=inc.outsider.headers)
    assert history.status_code == r.status_code  # consistent with the other room endpoints
    assert (await _get(client, inc.owner, "00000000-0000-0000-0000-000000000000", "html")).status_code == 404
    assert (await _get(client, inc.owner, "not-a-uuid", "html")).status_code == 400
    bad = await _get(client, inc.owner, inc.room_id, "docx")
    assert bad.status_code == 400 and "format must be one of" in bad.text
    assert (await client.http.get(f"/api/rooms/{inc.room_id}/report")).status_code == 401


async def test_file_links_never_take_a_forged_host(client: Api, pg: asyncpg.Connection) -> None:
    inc = await _incident(client, pg)
    r = await client.http.get(
        f"/api/rooms/{inc.room_id}/report",
        params={"format": "md"},
        headers={**inc.owner.headers, "Host": "evil.example"},
    )
    assert r.status_code == 200, r.text
    assert "evil.example" not in r.text
    assert re.search(rf"\({re.escape(client.base_url)}/api/files/[0-9a-f-]{{36}}\)", r.text)


async def test_markdown_report(client: Api, pg: asyncpg.Connection) -> None:
    inc = await _incident(client, pg)
    r = await _get(client, inc.owner, inc.room_id, "md")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/markdown")
    text = r.text
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").enable("table").enable("strikethrough").parse(text)
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert headings[0] == inc.title.replace("/", "/")
    for section in (
        "Summary",
        "Status history",
        "Participants",
        "Incident data",
        "Files",
        "Appendix",
        "Audit chain",
    ):
        assert any(h.startswith(section) for h in headings), section
    lines = [line for line in text.splitlines() if line.startswith("- `") and "(#" in line]
    seqs = [int(re.search(r"\(#(\d+)\)", line).group(1)) for line in lines]  # type: ignore[union-attr]
    assert seqs == list(range(1, seqs[-1] + 1))
    assert all(GMT8.search(line) for line in lines)
    mention = next(line for line in lines if f"(#{inc.seqs['mention']})" in line)
    assert "**@Bob Chen**" in mention
    image = next(line for line in lines if f"(#{inc.seqs['image']})" in line)
    assert re.search(r"!\[defect\.png\]\(http://127\.0\.0\.1:\d+/api/files/[0-9a-f-]{36}\)", image)
    assert "![Chart of temp\\_c](data:image/svg+xml;base64," in text
    assert f"~~{SECRET}~~" in text
    assert "**Audit chain verified**" in text


async def test_csv_report_has_one_row_per_incident_data_message(client: Api, pg: asyncpg.Connection) -> None:
    inc = await _incident(client, pg)
    r = await _get(client, inc.owner, inc.room_id, "csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text.lstrip("\ufeff"))))
    assert [int(row["sequence_number"]) for row in rows] == [inc.seqs[f"data{i}"] for i in range(3)]
    local = next(k for k in rows[0] if k.startswith("time_Asia_Taipei"))
    assert "GMT+8" in local
    for row in rows:
        assert GMT8.fullmatch(row[local]) and row["time_utc"].endswith("Z")
        # The same moment: GMT+8 is the UTC time plus eight hours.
        utc_hour = int(row["time_utc"][11:13])
        assert int(row[local][11:13]) == (utc_hour + 8) % 24
        assert row["sender_display_name"] == "Bob Chen"
    assert [row["temp_c"] for row in rows] == ["250", "262.5", "241"]
    assert [row["pressure.kpa"] for row in rows] == ["101.3", "99.8", "100.4"]
    assert [row["line"] for row in rows] == ["L3"] * 3 and [row["ok"] for row in rows] == [
        "false",
        "false",
        "true",
    ]
    assert not [k for k in rows[0] if "_units" in k]
    # Text that a spreadsheet would take for a formula stays text.
    assert [row["note"] for row in rows] == ["", "'=HYPERLINK(1)", ""]


async def test_json_report_is_the_whole_room(client: Api, pg: asyncpg.Connection) -> None:
    inc = await _incident(client, pg)
    body = (await _get(client, inc.owner, inc.room_id, "json")).json()
    assert body["room"]["title"] == inc.title and body["room"]["status"] == "resolved"
    # Duration: from the first message someone wrote (not the set-up events before it) to resolution.
    by_seq = {m["sequence_number"]: m for m in body["messages"]}
    assert by_seq[1]["message_type"] == "system"
    assert body["room"]["first_message_at"] == by_seq[inc.seqs["first"]]["created_at"]
    assert body["room"]["resolved_at"] == by_seq[max(by_seq)]["created_at"]
    first = datetime.fromisoformat(body["room"]["first_message_at"].replace("Z", "+00:00"))
    resolved = datetime.fromisoformat(body["room"]["resolved_at"].replace("Z", "+00:00"))
    # (the wire times are at millisecond precision, the duration is computed from the stored ones)
    assert abs(body["room"]["duration_seconds"] - (resolved - first).total_seconds()) <= 1
    assert [m["sequence_number"] for m in body["messages"]] == list(
        range(1, body["room"]["last_sequence_number"] + 1)
    )
    assert [s["to"] for s in body["status_history"]] == ["resolved"]
    assert {p["user_id"]: p["role"] for p in body["participants"]}[inc.viewer.user_id] == "VIEWER"
    assert {s["field"]: s["unit"] for s in body["incident_series"]} == {"temp_c": "°C", "pressure.kpa": None}
    [edit] = body["edits"]
    assert edit["version"] == ORIGINAL and edit["replaced_by_version"] == EDITED
    [deletion] = body["deletions"]
    assert deletion["content"] == SECRET and deletion["deleted_by"] == inc.owner.user_id
    assert body["audit"] == {"ok": True, "entries": 2, "broken_index": None, "reason": None}


async def test_pdf_report_has_the_timeline_in_order_chinese_text_times_and_charts(
    client: Api, pg: asyncpg.Connection
) -> None:
    inc = await _incident(client, pg)
    r = await _get(client, inc.owner, inc.room_id, "pdf", download="0")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert (
        r.headers["content-disposition"].startswith("inline") and ".pdf" in r.headers["content-disposition"]
    )
    reader = PdfReader(io.BytesIO(r.content))
    text = "\n".join(page.extract_text() or "" for page in reader.pages)
    flat = re.sub(r"\s+", "", text)
    assert re.sub(r"\s+", "", inc.title) in flat  # Chinese text comes out as text, not boxes
    assert "烤箱溫度異常" in flat
    assert GMT8.search(text)
    # The timeline in order: each message's marker appears after the one before it.
    markers = [f"#{n}" for n in sorted(inc.seqs.values())]
    positions = [text.find(f"· {m}") if f"· {m}" in text else text.find(m) for m in markers]
    assert all(p >= 0 for p in positions) and positions == sorted(positions)
    # The charts are drawn (pygal's title is drawn as text in the SVG), with the images embedded.
    assert "Chart:temp_c(°C)" in flat and "Chart:pressure.kpa" in flat
    images = sum(len(page.images) for page in reader.pages)
    assert images >= 1  # the thumbnail of defect.png
    assert "chainintact" in flat


async def test_a_tampered_audit_row_is_reported_as_tampered(
    client: Api, pg: asyncpg.Connection, stack: Stack
) -> None:
    owner = await client.user("tamper")
    room_id = await client.room(owner, "tamper test")
    ws = await client.connect(owner, room_id)
    try:
        seq = await _sent(ws, "first version")
        mid = await _id(pg, room_id, seq)
        await ws.send({"type": "edit_message", "message_id": mid, "content": "second version"})
        await ws.next("message_edited")
    finally:
        await ws.close()

    async def chained() -> bool:
        return bool(await pg.fetchval("SELECT count(*) FROM audit_log WHERE room_id = $1", room_id))

    await eventually(chained, what="the audit entry")
    good = (await _get(client, owner, room_id, "json")).json()["audit"]
    assert good["ok"] is True
    await pg.execute(
        "UPDATE audit_log SET body = jsonb_set(body, '{after,content}', '\"forged\"') WHERE room_id = $1",
        room_id,
    )
    audit = (await _get(client, owner, room_id, "json")).json()["audit"]
    assert audit["ok"] is False and audit["broken_index"] == 0 and "altered" in audit["reason"]
    html = BeautifulSoup((await _get(client, owner, room_id, "html")).text, "html.parser")
    assert "BROKEN (tampered)" in html.select_one("#audit-result").get_text()
    # The same verdict as `andon audit verify`.
    code, out = await _cli(stack, ["audit", "verify", room_id])
    assert code == 1 and "entry 0 does not match its hash (altered)" in out


async def _cli(stack: Stack, args: list[str], cwd: str | None = None) -> tuple[int, str]:
    env = dict(os.environ)
    env.pop("REDIS_URL", None)
    env["DATABASE_URL"] = stack.database_url
    env["ANDON_DATA_DIR"] = stack.env["ANDON_DATA_DIR"]
    proc = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "api.cli", *args],
        cwd=cwd or str(ROOT),
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    return proc.returncode, proc.stdout + proc.stderr


async def test_cli_writes_the_report_with_a_progress_bar(
    client: Api, pg: asyncpg.Connection, stack: Stack, tmp_path: Any
) -> None:
    inc = await _incident(client, pg)
    out = tmp_path / "report.md"
    code, log = await _cli(stack, ["report", inc.room_id, "--format", "md", "--output", str(out)])
    assert code == 0, log
    assert re.search(r"report: 100% 1[0-9],?\d*/\d+ messages", log) or "100%" in log
    text = out.read_text()
    assert SECRET in text and ORIGINAL in text  # the operator's report is complete
    code, log = await _cli(
        stack,
        ["report", inc.room_id, "--format", "csv", "--as", inc.viewer.user_id, "--output", "-", "--quiet"],
    )
    assert code == 0 and "temp_c" in log and "100%" not in log
    code, _ = await _cli(
        stack, ["report", inc.room_id, "--format", "json", "--as", inc.outsider.user_id, "--output", "-"]
    )
    assert code == 2
    code, log = await _cli(stack, ["report", inc.room_id, "--format", "html"], cwd=str(tmp_path))
    assert code == 0, log
    written = [p.name for p in tmp_path.iterdir() if p.suffix == ".html"]
    assert len(written) == 1 and re.fullmatch(
        r"產線-3-停機-Line-3-outage-\d{4}-\d\d-\d\d\.html", written[0]
    ), written
