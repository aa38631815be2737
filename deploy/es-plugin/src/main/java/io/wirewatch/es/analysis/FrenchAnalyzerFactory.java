package io.wirewatch.es.analysis;

import org.apache.lucene.analysis.fr.FrenchAnalyzer;
import org.elasticsearch.plugin.NamedComponent;

/** {@code ww_french}: Lucene's {@code FrenchAnalyzer} with its default stopwords and stemmer. */
@NamedComponent("ww_french")
public final class FrenchAnalyzerFactory extends LuceneAnalyzerFactory {
    public FrenchAnalyzerFactory() {
        super(FrenchAnalyzer::new);
    }
}
