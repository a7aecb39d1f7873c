"""The printable poster: a QR code of the school's report address, for admins."""

from __future__ import annotations

import re

import segno

from tests.factories import AdminFactory, LeadFactory, StaffFactory
from tests.helpers import sign_in
from tests.reporting.conftest import text

_MOVE = re.compile(r"([MmHhVvZz])\s*([-\d.\s]*)")


def _dark_modules(svg: str) -> set[tuple[int, int]]:
    """Read the dark modules back out of segno's SVG path (strokes of unit height)."""
    path = re.search(r'<path[^>]*class="qrline"[^>]*d="([^"]+)"', svg) or re.search(
        r'<path[^>]*stroke="[^"]+"[^>]*d="([^"]+)"', svg)
    assert path, "no QR path in the SVG"
    x = y = 0.0
    dark: set[tuple[int, int]] = set()
    for op, args in _MOVE.findall(path.group(1)):
        nums = [float(n) for n in args.split()] if args.strip() else []
        if op == "M":
            x, y = nums
        elif op == "m":
            x, y = x + nums[0], y + nums[1]
        elif op == "h":
            for dx in range(int(nums[0])):
                dark.add((int(x) + dx, int(y)))
            x += nums[0]
        else:
            raise AssertionError(f"unexpected path command {op}")
    left, top = min(c[0] for c in dark), min(c[1] for c in dark)
    return {(cx - left, cy - top) for cx, cy in dark}


def _qr_modules(content: str, error: str) -> set[tuple[int, int]]:
    matrix = segno.make(content, error=error, boost_error=False, micro=False).matrix
    return {(x, y) for y, row in enumerate(matrix) for x, bit in enumerate(row) if bit}


def _encodes(svg: str, content: str) -> bool:
    dark = _dark_modules(svg)
    return any(dark == _qr_modules(content, e) for e in "lmqh")


def test_an_admin_gets_a_poster_with_a_qr_code_of_the_report_address(app, client, school):
    sign_in(client, AdminFactory(school=school))
    response = client.get("/staff/admin/poster")
    assert response.status_code == 200
    page = text(response)
    url = f"{app.config['SERVER_BASE_URL']}/s/{school.slug}/report"
    assert f'<p class="poster__url">{url}</p>' in page
    assert school.name in page
    svg = re.search(r"<svg.*?</svg>", page, re.S)
    assert svg, "no inline SVG on the poster"
    # The QR code holds exactly the report address, not another school's or page's.
    assert _encodes(svg.group(0), url)
    assert not _encodes(svg.group(0), url.replace("/report", "/check"))
    assert "<img" not in svg.group(0) and "http" not in svg.group(0).split("<path")[0]


def test_the_qr_reader_is_sound(school):
    # the path reader above, checked against segno itself
    url = "http://127.0.0.1:5000/s/x/report"
    svg = segno.make(url, error="q", boost_error=False).svg_inline(scale=3, border=4)
    assert _encodes(svg, url) and not _encodes(svg, url + "x")


def test_counsellors_and_leads_get_no_poster(new_client, school):
    for user in (StaffFactory(school=school), LeadFactory(school=school)):
        staff = new_client()
        sign_in(staff, user)
        response = staff.get("/staff/admin/poster")
        assert response.status_code == 403
        assert "<svg" not in text(response)


def test_signed_out_visitors_get_no_poster(client):
    response = client.get("/staff/admin/poster")
    assert response.status_code in (302, 401)
