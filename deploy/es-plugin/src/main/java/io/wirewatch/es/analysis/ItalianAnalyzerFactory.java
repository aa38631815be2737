package io.wirewatch.es.analysis;

import org.apache.lucene.analysis.it.ItalianAnalyzer;
import org.elasticsearch.plugin.NamedComponent;

/** {@code ww_italian}: Lucene's {@code ItalianAnalyzer} with its default stopwords and stemmer. */
@NamedComponent("ww_italian")
public final class ItalianAnalyzerFactory extends LuceneAnalyzerFactory {
    public ItalianAnalyzerFactory() {
        super(ItalianAnalyzer::new);
    }
}
