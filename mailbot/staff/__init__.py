"""Staff: the commands Department staff and the operator use: the review queue (review), status,
the duty roster, backup, check; commands.py wires them to the command line and the daemon."""
