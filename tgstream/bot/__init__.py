"""The bot: files sent to it (or posted in the bin channel) get download and watch links."""
