package io.wirewatch.es.analysis;

import org.apache.lucene.analysis.es.SpanishAnalyzer;
import org.elasticsearch.plugin.NamedComponent;

/** {@code ww_spanish}: Lucene's {@code SpanishAnalyzer} with its default stopwords and stemmer. */
@NamedComponent("ww_spanish")
public final class SpanishAnalyzerFactory extends LuceneAnalyzerFactory {
    public SpanishAnalyzerFactory() {
        super(SpanishAnalyzer::new);
    }
}
