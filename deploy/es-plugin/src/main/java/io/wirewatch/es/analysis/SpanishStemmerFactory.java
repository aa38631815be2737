package io.wirewatch.es.analysis;

import org.apache.lucene.analysis.es.SpanishLightStemFilter;
import org.elasticsearch.plugin.NamedComponent;

/** {@code ww_stemmer_spanish}: Lucene's SpanishLightStemFilter, the stemmer of {@code ww_spanish}. */
@NamedComponent("ww_stemmer_spanish")
public final class SpanishStemmerFactory extends LuceneTokenFilterFactory {
    public SpanishStemmerFactory() {
        super(SpanishLightStemFilter::new);
    }
}
