"""Azure Monitor export is turned on by its setting only."""

from diskdr.telemetry import configure_telemetry


def test_off_without_the_connection_string():
    calls = []
    assert configure_telemetry({}, configure=lambda **kw: calls.append(kw)) is False
    assert (
        configure_telemetry({"APPLICATIONINSIGHTS_CONNECTION_STRING": " "}, calls.append) is False
    )
    assert calls == []


def test_on_with_the_connection_string():
    calls = []
    env = {"APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=abc"}
    assert configure_telemetry(env, configure=lambda **kw: calls.append(kw)) is True
    # Logs stay with the Functions host (no duplicates); spans and metrics go to the distro.
    assert calls == [{"connection_string": "InstrumentationKey=abc", "disable_logging": True}]
