"""tgemu: a Telegram DC emulator speaking MTProto 2.0 on loopback ports."""
