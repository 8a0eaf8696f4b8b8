"""The MTProto side: bot clients, per-DC session pools, the DC map, files and flood waits."""
