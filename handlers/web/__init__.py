"""The web form: report from any browser, with no account and no phone number, Tor included.

Server-rendered pages under /report/ on the bot's own HTTP server (`routes.py`, `pages.py`), the
same forms, engine and form driver as the chat channels (bot/services/form.py: the routes feed it
a post's inputs and the pages render the engine's reply it returns), a mailbox to answer the
team's questions with the report's code and a passphrase (`words.py`, storage/web.py), a challenge
that needs no JavaScript (`challenge.py`), and the outbox's transport for messages to web
reporters (`transport.py`). README, "The web form".
"""

CHANNEL = "web"
