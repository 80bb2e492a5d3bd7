"""The reputation score (SLA_SEMANTICS §7): 0 to 100, one published weighting, printed in every
report so anyone can recompute it from the figures beside it."""

from __future__ import annotations

from collections.abc import Mapping

# The parts and their weights; a part with no data (nothing due, nothing answered) is left out
# and the others keep their proportions.
WEIGHTS: Mapping[str, float] = {
    "sla_attainment": 0.40,
    "response_rate": 0.25,
    "speed": 0.20,
    "sentiment": 0.15,
}

REPUTATION_FORMULA = (
    "reputation_score = 100 × (0.40 × sla_attainment + 0.25 × response_rate + 0.20 × speed "
    "+ 0.15 × sentiment) ÷ (the sum of the weights of the parts that have data), rounded; "
    "speed = the mean, over turns opened and answered in the week, of "
    "max(0, 1 − response time ÷ (2 × target)) in the policy's clock (an instant reply scores 1, "
    "a reply at the target 0.5, at twice the target or later 0); "
    "sentiment = 1 − (turns opened at high or urgent priority ÷ turns opened), where high and "
    "urgent come from the complaint and risk vocabulary of triage and from VIP rules."
)


def speed_of(response_seconds: float, target_seconds: float) -> float:
    """One answered turn's speed against its target: 1 at once, 0.5 at the target, 0 at 2x."""
    if target_seconds <= 0:
        return 1.0 if response_seconds <= 0 else 0.0
    return max(0.0, 1.0 - response_seconds / (2.0 * target_seconds))


def reputation(parts: Mapping[str, float | None]) -> tuple[int | None, dict[str, float | None]]:
    """The score and the parts it was computed from (rounded to 4 places)."""
    shown: dict[str, float | None] = {}
    for name in WEIGHTS:
        value = parts.get(name)
        shown[name] = None if value is None else round(float(value), 4)
    present = {name: value for name, value in shown.items() if value is not None}
    if not present:
        return None, shown
    weight = sum(WEIGHTS[name] for name in present)
    score = 100.0 * sum(WEIGHTS[name] * value for name, value in present.items()) / weight
    # Halves round up (not to even), as a reader recomputing it by hand would.
    return int(round(score, 6) + 0.5), shown
