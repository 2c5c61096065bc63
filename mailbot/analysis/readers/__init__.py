"""Readers of document formats beyond what extract.py reads today: scans (OCR), winmail.dat and .msg,
.7z and .rar, .doc and .rtf, signed PDFs. Each reader is a module here that extract.examine calls."""
