"""The web page: chat, documents, job progress and sources over the same core (see app.py)."""
