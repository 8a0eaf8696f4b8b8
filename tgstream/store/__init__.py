"""Persistent state of the server: auth keys, the DC map, resolved files, flood deadlines."""

from .lock import lock_session_dir
from .problems import StoreUnavailable
from .sqlite import AuthKeyRecord, FileInfo, Store, check_session_file

__all__ = [
    "AuthKeyRecord",
    "FileInfo",
    "Store",
    "StoreUnavailable",
    "check_session_file",
    "lock_session_dir",
]
