"""The register: what was received and decided, kept in TinyDB tables that survive kill -9
(store, storage) and files by content hash (blobs)."""
