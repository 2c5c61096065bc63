"""Analysis: what a message is. classify (organization, authentication, the rule chain in rules/),
the required documents it carries (documents, extract), duty lists (dutylist), and the worker
processes that do it (workers). New document readers (OCR, Outlook wrappers, old Word files,
signatures) go in readers/."""
