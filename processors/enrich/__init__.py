"""Enrichment steps: plain functions over `wirewatch.schema.Article`, no broker.

- `pipeline.Enricher`: built once per worker (`Enricher.from_settings(settings)`);
  `enrich(article) -> Enrichment` (language, topics, keywords, entities).
- `story.StoryIndex.assign(article, analysis) -> Assignment(story_id, first, sources)`.
- `query.parse(text) -> Query`: the boolean syntax of user topics.
- `cli.register(subparsers)`: `enrich FILE`, `eval topics DIR`, `eval dedup DIR`.

Data files (taxonomy, stopwords, frequency lists, gazetteer) live in
processors/data/; see its README.md.
"""
