"""tgstream: DC-aware HTTP streaming of files stored in Telegram."""

__version__ = "0.1.0"
