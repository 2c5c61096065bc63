"""mailbot: the automated clerk of pbcvt@dongthap.gov.vn."""

__version__ = "0.1.0"
