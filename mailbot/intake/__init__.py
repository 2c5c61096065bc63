"""Intake: where a message comes from (sources/: Maildir, IMAP, Exchange) and how its raw bytes
become a ParsedMessage (parse, headers, bigparts). Fetching is kept apart from parsing."""
