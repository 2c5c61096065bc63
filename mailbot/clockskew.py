"""Times recorded under a clock that ran ahead.

A stamp later than now by more than SLACK was written while the clock was wrong (a year ahead,
then corrected). Such a stamp never says that something is done or recent: a day in the future
is not covered by a digest, a mail stamped in the future does not count toward a cap, a retry
is not put off past its longest backoff, a file is not "new" for ever. One rule, used by every
place that keeps a "last done" time.
"""

from __future__ import annotations

import datetime as dt

SLACK = dt.timedelta(hours=1)  # a clock set back this much (a manual correction) is not "ahead"


def ahead(when: dt.datetime, now: dt.datetime, slack: dt.timedelta = SLACK) -> bool:
    """`when` lies in the future beyond the slack: it came from a clock that ran ahead."""
    return when > now + slack


def ahead_seconds(when: float, now: float, slack: float = SLACK.total_seconds()) -> bool:
    """The same for POSIX times (file modification times)."""
    return when > now + slack
