"""The blocking client: the same exchange, for office software that is not async."""

from __future__ import annotations

import pytest

from agency_client import (
    BlockingAgencyClient,
    ClientNotStartedError,
    IncomingDocument,
    OutboxState,
    UnknownDocumentError,
)
from bus.settings import Settings
from tests.agency_client.helpers import DISTRICT, PROVINCE, make_document

pytestmark = pytest.mark.kafka


def test_send_receive_and_report_without_async(threaded_bus: Settings) -> None:
    settings = threaded_bus
    package = make_document(PROVINCE, [DISTRICT], subject="Giấy mời họp")
    with (
        BlockingAgencyClient(settings, PROVINCE, hand_over_statuses=False) as province,
        BlockingAgencyClient(settings, DISTRICT) as district,
    ):
        doc_id = province.send(package)
        item = next(district.receive(idle_timeout=30))
        assert isinstance(item, IncomingDocument)
        assert item.data == province.sent(doc_id).data
        district.acknowledge(item)
        assert province.wait_delivered(doc_id, 30).state is OutboxState.DELIVERED

        district.report(doc_id, "03", "Đã vào sổ")
        (accepted,) = province.wait_for_status(doc_id, "03", 30)
        assert (accepted.recipient, accepted.description) == (DISTRICT, "Đã vào sổ")
        assert [s.status_code for s in province.statuses(doc_id)] == ["01", "03"]

        with pytest.raises(UnknownDocumentError):
            district.report("000.00.00.H44,2026/01/01,999/NONE", "03")
    # Closed: the thread is gone and the client says so.
    with pytest.raises(ClientNotStartedError):
        province.send(package)
