"""The audit trail: writes recorded inside ``recording()`` only, reads never."""

from diskdr.audit import AzureWrite, record, recording

URL = "https://management.azure.com/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/snapshots/p?api-version=2026-03-02"


def test_writes_inside_a_recording_are_kept_with_their_request_id():
    record("PUT", URL, 202, "outside")  # no recording: dropped
    with recording() as writes:
        record("GET", URL, 200, "read")
        record("put", URL, 202, "r1")
        with recording() as inner:
            record("DELETE", URL, 200, "r2")
        record("PATCH", URL, 200, None)
    path = URL.split("azure.com", 1)[1].split("?", 1)[0]
    assert writes == [AzureWrite("PUT", path, 202, "r1"), AzureWrite("PATCH", path, 200, None)]
    assert inner == [AzureWrite("DELETE", path, 200, "r2")]
    assert AzureWrite.from_dict(writes[0].to_dict()) == writes[0]
    assert writes[0].to_dict()["requestId"] == "r1"
