package io.wirewatch.es.analysis;

import org.apache.lucene.analysis.en.EnglishAnalyzer;
import org.elasticsearch.plugin.NamedComponent;

/** {@code ww_english}: Lucene's {@code EnglishAnalyzer} with its default stopwords and stemmer. */
@NamedComponent("ww_english")
public final class EnglishAnalyzerFactory extends LuceneAnalyzerFactory {
    public EnglishAnalyzerFactory() {
        super(EnglishAnalyzer::new);
    }
}
