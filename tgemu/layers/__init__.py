"""API layers: reading requests and writing answers in the TL layer each client declared.

The emulator's own objects are Kurigram's generated layer-229 classes. A client that wrapped
its first call in invokeWithLayer(N) gets them rewritten, by constructor and field name, with
the schema of layer N (schema.py parses it, sources.py finds it in the installed peer
packages, wire.py reads and writes by schema, convert.py maps between the two worlds).
"""
