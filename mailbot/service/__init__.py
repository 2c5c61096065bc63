"""The service: the daemon loop and what systemd expects of it (notify, health), its scheduled
jobs, the hand-over of staff requests to a running daemon, and logging."""
