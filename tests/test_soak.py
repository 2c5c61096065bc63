"""A short sample of bench/soak.py (the full run: 5,000 messages, docs/reliability.md).

The daemon records and answers 480 messages arriving in 12 batches; its resident memory
after the batches must stay within a generous bound of what it was after warm-up (a
leak of a few KB per message would show). Times are printed by the bench, not asserted.
"""

from __future__ import annotations

from bench.soak import soak

GROWTH_MB = 25.0


def test_the_daemon_answers_a_stream_of_mail_without_growing(capsys) -> None:
    rows, replies = soak(480, 12, "log", quiet=True)
    assert sum(r[1] for r in rows) == 480
    assert replies == sum(r[6] for r in rows) and replies > 200  # the submissions of the mix, each answered
    warm = rows[2]  # after the worker processes started and the first segments filled
    assert max(r[3] for r in rows[3:]) - warm[3] < GROWTH_MB, [r[3] for r in rows]
