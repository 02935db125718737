"""Shared hypothesis strategies for EDXML models (used by every package's tests).

Generated values are what ``build`` can write and ``parse`` reads back equal:
text without XML-forbidden characters or surrounding whitespace (the reader
strips it), timestamps to the second, aware datetimes. Vietnamese letters are
always in the alphabet, so every round trip exercises them.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from hypothesis import strategies as st

import edxml

__all__ = [
    "agency_codes",
    "attachments",
    "document_ids",
    "document_packages",
    "edxml_text",
    "organizations",
    "packages",
    "status_packages",
    "timestamps",
]

_VIETNAMESE = "ăâđêôơưáàảãạấầẩẫậắằẳẵặéèẻẽẹếềểễệíìỉĩịóòỏõọốồổỗộớờởỡợúùủũụứừửữựýỳỷỹỵĐÂĂ"
_ALPHABET = st.one_of(
    st.sampled_from(_VIETNAMESE),
    st.characters(
        min_codepoint=0x20,
        max_codepoint=0x2FFF,
        blacklist_categories=("Cs", "Cc"),
    ),
)


@st.composite
def edxml_text(draw: st.DrawFn, min_size: int = 0, max_size: int = 40) -> str:
    """Text EDXML can carry and the reader gives back unchanged (no edge whitespace)."""
    text = draw(st.text(_ALPHABET, min_size=min_size, max_size=max_size)).strip()
    if min_size and not text:
        text = "Văn bản"
    return text


def _digits(count: int, nonzero: bool) -> st.SearchStrategy[str]:
    if not nonzero:
        return st.just("0" * count)
    return st.integers(1, 10**count - 1).map(lambda n: f"{n:0{count}d}")


@st.composite
def agency_codes(draw: st.DrawFn, level: int | None = None) -> str:
    """A standard agency code ``G1.G2.G3.G4`` of the given (or any) level."""
    level = level or draw(st.integers(1, 4))
    g4 = draw(st.sampled_from("GHKT")) + f"{draw(st.integers(0, 99)):02d}"
    g3 = draw(_digits(2, level >= 2))
    g2 = draw(_digits(2, level >= 3))
    g1 = draw(_digits(3, level >= 4))
    return f"{g1}.{g2}.{g3}.{g4}"


dates = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))

#: Aware datetimes to the second, in various zones (EDXML writes Vietnam time).
timestamps = st.builds(
    lambda moment, offset: moment.replace(tzinfo=timezone(timedelta(hours=offset))),
    st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2098, 12, 31)).map(
        lambda d: d.replace(microsecond=0)
    ),
    st.integers(-12, 14),
)

_notation = st.text(st.sampled_from("ABCDEFGHKLMNPQRSTUVXĐ-"), min_size=1, max_size=12).filter(
    lambda t: t.strip() == t
)
_number = st.integers(1, 99999).map(str)


@st.composite
def organizations(draw: st.DrawFn, code: str | None = None) -> edxml.Organization:
    return edxml.Organization(
        organ_id=code or draw(agency_codes()),
        organization_in_charge=draw(edxml_text()),
        organ_name=draw(edxml_text()),
        organ_add=draw(edxml_text()),
        email=draw(st.sampled_from(["", "vanthu@gov.vn", "contact@nghean.gov.vn"])),
        telephone=draw(st.sampled_from(["", "0383 840418", "(84-4) 3821 5137"])),
        fax=draw(st.sampled_from(["", "04"])),
        website=draw(st.sampled_from(["", "https://vpcp.vn"])),
    )


@st.composite
def document_ids(draw: st.DrawFn) -> str:
    return str(
        edxml.DocumentId.build(draw(agency_codes()), draw(dates), draw(_number), draw(_notation))
    )


@st.composite
def attachments(draw: st.DrawFn, large: bool = False) -> edxml.Attachment:
    """An attachment; ``large`` gives sizes up to about a megabyte."""
    size = draw(st.integers(0, 1_100_000)) if large else draw(st.integers(0, 2000))
    seed = draw(st.binary(min_size=1, max_size=64))
    data = (seed * (size // len(seed) + 1))[:size]
    name = draw(edxml_text(min_size=1, max_size=30)) + draw(st.sampled_from([".pdf", ".doc", ""]))
    return edxml.Attachment(
        content_id=f"cid:{draw(st.uuids())}",
        name=name,
        description=draw(edxml_text()),
        content_type=draw(st.sampled_from(["application/pdf", "application/zip", "text/plain"])),
        data=data,
    )


_staff = st.builds(
    edxml.StaffInfo,
    department=edxml_text(),
    staff=edxml_text(),
    email=st.sampled_from(["", "vanthu@gov.vn"]),
    mobile=st.sampled_from(["", "84912000001"]),
)


@st.composite
def _business(draw: st.DrawFn) -> edxml.Business:
    doc_type = draw(st.sampled_from(list(edxml.BusinessDocType)))
    target = draw(document_ids()) if doc_type is not edxml.BusinessDocType.NEW else ""
    info = None
    replacements: tuple[edxml.ReplacementInfo, ...] = ()
    if doc_type is edxml.BusinessDocType.UPDATE:
        info = edxml.BusinessDocumentInfo(
            document_info=draw(st.booleans()),
            document_receiver=draw(st.booleans()),
            receivers=tuple(
                edxml.Receiver(draw(agency_codes()), draw(st.one_of(st.none(), st.integers(0, 1))))
                for _ in range(draw(st.integers(0, 3)))
            ),
        )
    if doc_type is edxml.BusinessDocType.REPLACEMENT:
        replacements = tuple(
            edxml.ReplacementInfo(
                draw(document_ids()),
                tuple(draw(st.lists(agency_codes(), max_size=3))),
            )
            for _ in range(draw(st.integers(1, 2)))
        )
    return edxml.Business(
        doc_type=doc_type,
        document_id=target,
        reason=draw(edxml_text()),
        paper=draw(st.booleans()),
        staff_info=draw(st.one_of(st.none(), _staff)),
        document_info=info,
        replacements=replacements,
    )


@st.composite
def document_packages(
    draw: st.DrawFn, max_recipients: int = 30, large_attachments: bool = False
) -> edxml.DocumentPackage:
    """A valid document package (passes strict parsing once built)."""
    sender = draw(organizations())
    issued = draw(dates)
    number, notation = draw(_number), draw(_notation)
    count = draw(st.integers(0, 1 if large_attachments else 3))
    return edxml.DocumentPackage(
        sender=sender,
        recipients=tuple(draw(st.lists(organizations(), min_size=1, max_size=max_recipients))),
        document_id=str(edxml.DocumentId.build(sender.organ_id, issued, number, notation)),
        code=edxml.DocumentCode(number, notation),
        promulgation=edxml.PromulgationInfo(place=draw(edxml_text()), date=issued),
        document_type=edxml.DocumentType(
            type=draw(st.integers(1, 30)),
            type_detail=draw(st.one_of(st.none(), st.integers(0, 9))),
            type_name=draw(edxml_text()),
        ),
        subject=draw(edxml_text(min_size=1, max_size=200)),
        content=draw(edxml_text(max_size=300)),
        signer=edxml.SignerInfo(
            competence=draw(edxml_text()),
            position=draw(edxml_text()),
            full_name=draw(edxml_text(min_size=1)),
        ),
        due_date=draw(
            st.one_of(st.none(), st.integers(0, 400).map(lambda d: issued + timedelta(days=d)))
        ),
        other_info=edxml.OtherInfo(
            priority=draw(st.integers(0, 3)),
            sphere_of_promulgation=draw(edxml_text()),
            typer_notation=draw(edxml_text(max_size=5)),
            promulgation_amount=draw(st.one_of(st.none(), st.integers(0, 500))),
            page_amount=draw(st.one_of(st.none(), st.integers(0, 500))),
            direction=draw(st.one_of(st.none(), st.booleans())),
            appendixes=tuple(draw(st.lists(edxml_text(min_size=1), max_size=3))),
        ),
        steering_type=draw(st.one_of(st.none(), st.integers(0, 2))),
        to_places=tuple(draw(st.lists(edxml_text(min_size=1), max_size=3))),
        response_for=tuple(
            edxml.ResponseFor(
                organ_id=draw(agency_codes()),
                code=f"{draw(_number)}/{draw(_notation)}",
                promulgation_date=draw(dates),
                document_id=draw(document_ids()),
            )
            for _ in range(draw(st.integers(0, 2)))
        ),
        trace_headers=tuple(
            edxml.TraceHeader(draw(agency_codes()), draw(timestamps))
            for _ in range(draw(st.integers(1, 3)))
        ),
        business=draw(_business()),
        attachments=tuple(
            {
                a.content_id: a
                for a in (draw(attachments(large=large_attachments)) for _ in range(count))
            }.values()
        ),
    )


@st.composite
def status_packages(draw: st.DrawFn) -> edxml.StatusPackage:
    """A valid status package."""
    code = draw(st.sampled_from(list(edxml.StatusCode)))
    sender = draw(organizations())
    return edxml.StatusPackage(
        sender=sender,
        response_for=edxml.ResponseFor(
            organ_id=draw(agency_codes()),
            code=f"{draw(_number)}/{draw(_notation)}",
            promulgation_date=draw(dates),
            document_id=draw(document_ids()),
        ),
        status_code=code,
        description=draw(edxml_text(min_size=1 if code is edxml.StatusCode.REFUSED else 0)),
        timestamp=draw(timestamps),
        staff_info=draw(st.one_of(st.none(), _staff)),
        trace_headers=tuple(
            edxml.TraceHeader(draw(agency_codes()), draw(timestamps))
            for _ in range(draw(st.integers(0, 2)))
        ),
    )


packages = st.one_of(document_packages(), status_packages())
