"""Feed producers: poll RSS/Atom feeds politely and safely, produce articles to Kafka.

Modules, in the order data flows through them:

- ``catalogue``   the YAML feed catalogue (validated, errors name line and key), OPML, sharding
- ``safety``      which addresses may be fetched (private/loopback/... refused unless allow-listed)
- ``fetcher``     one fetch: total deadline, capped streaming decode, manual checked redirects,
                  conditional GET + body hash
- ``normalise``   bytes -> ParsedFeed of wirewatch.schema.Article (entity/XXE refusal, clean text,
                  canonical URLs, UTC dates with flags); ``text`` holds its pure helpers
- ``isolation``   parse_feed (and page extraction) in worker processes with a deadline and a memory cap
- ``fulltext``    full-text feeds: which entries only carry a summary, their pages fetched under the
                  fetcher's rules, main text extracted (``extract``, trafilatura) in a child process
- ``schedule``    next-check arithmetic (publishing rate, ttl, sy:updatePeriod, max-age,
                  Retry-After, backoff, jitter)
- ``state``       per-feed state; ``state_topic`` keeps it in the compacted ``feeds.state`` topic
- ``kafka_sink``  kafka-python producer (acks=all, idempotent, compressed, batched)
- ``scheduler``   ``poll_once`` / ``run_forever``: the polling loop
- ``metrics``     Prometheus metrics; ``cli`` the ``feeds ...`` and ``produce`` verbs

Defaults: a feed is checked at most every 5 minutes and at least every 6 hours
(``min_interval`` / ``max_interval`` per feed); failures back off from
``min_interval`` doubling up to 12 hours (never below Retry-After); 410 Gone
disables a feed, nothing else does. A feed behind a 301/308 is logged
(``feed_moved_permanently``), shown by ``wirewatch feeds status`` and followed by
``wirewatch feeds apply-moves`` (catalogue URL rewritten in place, state carried
over in Kafka). Scale-out: ``wirewatch produce --instance I
--instances N`` polls the feeds whose URL hash modulo N is I.
"""
