"""The Facebook Messenger channel: a Page's conversations run through the same forms and engine.

Meta removed the Groups API in April 2024, so the coalition's Facebook group pins an
`https://m.me/<page>?ref=<tag>` link and members report in a private Messenger conversation with
the Page. This package is that channel: the signed webhook (`webhook.py`), which stores each
event and answers Meta at once, the worker that processes the stored events afterwards
(`inbox.py`), the adapter that renders the engine's replies as quick replies and templates
(`render.py`, `conversation.py`), the Graph API client with Messenger's limits and error codes
(`graph.py`), and the outbox's sender for messages to Messenger reporters (`delivery.py`).
"""

CHANNEL = "messenger"
