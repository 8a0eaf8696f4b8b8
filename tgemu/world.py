"""The emulated Telegram's state, below sessions and sockets: what RPC handlers and the control
API work on.

Accounts, keys and files (store), chats and updates (messaging), counters (stats), injected
faults, the RSA key and the deployment's settings.  Nothing here knows about connections: new
updates leave through the `deliver` callback the server passes in.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .faults import Faults
from .messaging import Messaging
from .rsa_key import ServerRSAKey
from .stats import Stats
from .store import Store, User

API_ID = 94575
DEFAULT_DCS = (1, 2, 3, 4, 5)
# How long auth.exportAuthorization's bytes may be imported.
EXPORT_TTL = 300


@dataclass
class EmulatorConfig:
    state_dir: Path
    dc_ids: tuple[int, ...] = DEFAULT_DCS
    home_dc: int = 2
    bots: int = 1
    host: str = "127.0.0.1"
    ports: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Exported:
    """auth.exportAuthorization's grant: `user_id` may sign in on DC `dc` until `expires`."""

    user_id: int
    dc: int
    expires: float


class World:
    def __init__(self, config: EmulatorConfig, deliver: Callable[[int, Any], None]) -> None:
        """`deliver(user_id, updates)` hands an Updates object to that account's clients."""
        if config.home_dc not in config.dc_ids:
            raise ValueError(f"home DC {config.home_dc} is not one of the DCs {config.dc_ids}")
        self.config = config
        self.dc_ids = list(config.dc_ids)
        self.store = Store(config.state_dir)
        self.rsa = ServerRSAKey.load_or_create(config.state_dir / "rsa_key.pem")
        self.stats = Stats(self.dc_ids)
        self.faults = Faults(self.dc_ids)
        self.api_id = API_ID
        self.api_hash = self.store.secret("api_hash").hex()[:32]
        self.bots: list[User] = self.store.ensure_bots(config.bots, config.home_dc)
        self.messaging = Messaging(self.store, self.bots, deliver)
        # The port each DC listens on, once the server has bound it (help.getConfig lists them).
        self.ports: dict[int, int] = {}
        # Exported authorizations by their bytes; single use.
        self.exported: dict[bytes, Exported] = {}

    def bot_by_token(self, token: str) -> User | None:
        bot_id, _, secret = token.partition(":")
        if not bot_id.isdigit():
            return None
        user = self.store.users.get(int(bot_id))
        if user is None or not user.is_bot or user.token_secret is None:
            return None
        return user if secrets.compare_digest(user.token_secret, secret) else None

    def export_authorization(self, user_id: int, dc: int, blob: bytes, now: float) -> None:
        for stale in [b for b, grant in self.exported.items() if grant.expires < now]:
            del self.exported[stale]
        self.exported[blob] = Exported(user_id, dc, now + EXPORT_TTL)

    def revoke_authorizations(self, dc: int) -> None:
        """Log out every key on a DC, as when Telegram terminates the sessions."""
        for key in list(self.store.keys.values()):
            if key.dc == dc and key.user_id is not None:
                self.store.authorize_key(key, None)
