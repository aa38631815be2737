package io.wirewatch.es.analysis;

import org.apache.lucene.analysis.it.ItalianLightStemFilter;
import org.elasticsearch.plugin.NamedComponent;

/** {@code ww_stemmer_italian}: Lucene's ItalianLightStemFilter, the stemmer of {@code ww_italian}. */
@NamedComponent("ww_stemmer_italian")
public final class ItalianStemmerFactory extends LuceneTokenFilterFactory {
    public ItalianStemmerFactory() {
        super(ItalianLightStemFilter::new);
    }
}
