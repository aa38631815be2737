package io.wirewatch.es.analysis;

import org.apache.lucene.analysis.en.PorterStemFilter;
import org.elasticsearch.plugin.NamedComponent;

/** {@code ww_stemmer_english}: Lucene's PorterStemFilter, the stemmer of {@code ww_english}. */
@NamedComponent("ww_stemmer_english")
public final class EnglishStemmerFactory extends LuceneTokenFilterFactory {
    public EnglishStemmerFactory() {
        super(PorterStemFilter::new);
    }
}
