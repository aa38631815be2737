package io.wirewatch.es.analysis;

import org.apache.lucene.analysis.pt.PortugueseLightStemFilter;
import org.elasticsearch.plugin.NamedComponent;

/** {@code ww_stemmer_portuguese}: Lucene's PortugueseLightStemFilter, the stemmer of {@code ww_portuguese}. */
@NamedComponent("ww_stemmer_portuguese")
public final class PortugueseStemmerFactory extends LuceneTokenFilterFactory {
    public PortugueseStemmerFactory() {
        super(PortugueseLightStemFilter::new);
    }
}
