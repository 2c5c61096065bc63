"""Replies: what mailbot writes and sends: acknowledgements (reply, acknowledge), the outbox and its
SMTP transport (outbox), reminders, the staff digest; and the calendar and time formats they use."""
