"""The digits benchmark suite."""

from ...suite import Suite

DIGITS_SUITE = Suite(
    name="digits", model="digits",
    # guidance 0 (the unconditional model): the search alone has to find the requested digit;
    # the sde sampler so that noise-trajectory searches can run beside initial-noise ones
    process={"steps": 25, "sampler": "sde", "guidance": 0.0},
    conditions=[i % 10 for i in range(100)],
    verifier="digits-classifier",
    judges=["digits-evaluator", "digits-fd"],
    summary="100 conditions (digits 0-9, ten times each), sde sampler, 25 steps, guidance 0",
)
