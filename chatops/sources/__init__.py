"""Status sources: ``chatops.sources.base`` (the StatusSource protocol and its errors) and
``chatops.sources.liveperson`` (the LivePerson client). Nothing is imported here: what
needs only the protocol does not load the client.
"""
