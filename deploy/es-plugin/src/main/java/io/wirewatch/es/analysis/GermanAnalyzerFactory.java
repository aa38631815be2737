package io.wirewatch.es.analysis;

import org.apache.lucene.analysis.de.GermanAnalyzer;
import org.elasticsearch.plugin.NamedComponent;

/** {@code ww_german}: Lucene's {@code GermanAnalyzer} with its default stopwords and stemmer. */
@NamedComponent("ww_german")
public final class GermanAnalyzerFactory extends LuceneAnalyzerFactory {
    public GermanAnalyzerFactory() {
        super(GermanAnalyzer::new);
    }
}
