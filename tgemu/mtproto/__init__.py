"""MTProto 2.0 session rules, server side, as a sans-I/O core (the way h11 is one for HTTP).

Fed decrypted client messages and a clock value, `MTProtoCore.receive` answers what to send,
what to resend and which API calls to run; the caller owns sockets, tasks, time and crypto.
Nothing here imports asyncio or reads the clock.
"""
