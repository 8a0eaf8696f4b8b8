"""The baselines: small HTTP servers reproducing how other bots stream (each its own process)."""
