package io.wirewatch.es.analysis;

import org.apache.lucene.analysis.pt.PortugueseAnalyzer;
import org.elasticsearch.plugin.NamedComponent;

/** {@code ww_portuguese}: Lucene's {@code PortugueseAnalyzer} with its default stopwords and stemmer. */
@NamedComponent("ww_portuguese")
public final class PortugueseAnalyzerFactory extends LuceneAnalyzerFactory {
    public PortugueseAnalyzerFactory() {
        super(PortugueseAnalyzer::new);
    }
}
