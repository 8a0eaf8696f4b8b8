"""The Telegram API methods the emulator answers, and the way a call reaches them.

query.py parses an incoming call, dispatch.py runs it (faults, authorization, counters) with
the handler table.py names for its TL constructor, encode.py turns the answer into bytes.
Handlers receive a `CallContext` (context.py) holding the world state, never the server.
"""
