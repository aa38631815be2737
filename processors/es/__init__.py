"""Elasticsearch plumbing of Wirewatch: clients, the articles index layout and
templates, and the `wirewatch es|search|kibana` commands.

The index layout (names, monthly routing, aliases) is in ``layout.py``; the
templates in ``deploy/elasticsearch/`` are rendered and applied by
``templates.py``.
"""
