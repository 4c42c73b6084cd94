"""The world clock: scale and anchor make two processes agree."""

import time

import pytest

from diskdr.clock import WorldClock


def test_world_time_runs_scale_times_faster_from_the_anchor():
    anchor = time.time() - 10.0
    clock = WorldClock(scale=60, anchor=anchor)
    world = clock.time()
    real = time.time()
    assert world - anchor == pytest.approx((real - anchor) * 60, abs=60 * 0.5)


def test_two_clocks_with_the_same_anchor_agree():
    anchor = time.time() - 3.0
    a, b = WorldClock(600, anchor), WorldClock(600, anchor)
    assert abs(a.time() - b.time()) < 600 * 0.2


def test_real_and_world_conversions_are_inverse():
    clock = WorldClock(scale=25, anchor=1_000.0)
    assert clock.real_time_of(clock.anchor + 2_500.0) == pytest.approx(1_100.0)
    assert clock.real_seconds(clock.world_seconds(3.0)) == pytest.approx(3.0)


def test_from_env_reads_scale_and_anchor():
    clock = WorldClock.from_env({"DISKDR_TIME_SCALE": "10", "DISKDR_CLOCK_ANCHOR": "5.5"})
    assert (clock.scale, clock.anchor) == (10.0, 5.5)
    assert WorldClock.from_env({}).scale == 1.0


def test_scale_must_be_positive():
    with pytest.raises(ValueError, match="time scale must be > 0"):
        WorldClock(scale=0)
