"""Every API method the emulator answers: the handler modules' tables, merged."""

from __future__ import annotations

from . import auth, bots, channels, help, messages, updates, upload, users
from .methods import Methods

METHODS = Methods().include(
    auth.methods,
    bots.methods,
    channels.methods,
    help.methods,
    messages.methods,
    updates.methods,
    upload.methods,
    users.methods,
)
