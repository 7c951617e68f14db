"""Random operation sequences against the reference model, every invariant
checked after every step: CI-sized by default, at least 10^5 steps with
GEN_HARNESS_LONG=1."""

from __future__ import annotations

from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from .conftest import LONG
from .machine import machine_for, steps_run

LONG_STEPS = 100_000


def test_vmap_against_the_model(xh):
    before = steps_run()
    run_state_machine_as_test(machine_for(xh))
    ran = steps_run() - before
    print(f"{ran} steps, profile {settings.default}")
    if LONG:
        assert ran >= LONG_STEPS, f"the long run ran only {ran} steps"
