"""`tgstream bench`: tgstream against the common ways bots stream Telegram files, side by side
on the emulator's shaped network.  Nothing here is imported by the product."""
