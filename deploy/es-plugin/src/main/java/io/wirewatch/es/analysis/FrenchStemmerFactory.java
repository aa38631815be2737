package io.wirewatch.es.analysis;

import org.apache.lucene.analysis.fr.FrenchLightStemFilter;
import org.elasticsearch.plugin.NamedComponent;

/** {@code ww_stemmer_french}: Lucene's FrenchLightStemFilter, the stemmer of {@code ww_french}. */
@NamedComponent("ww_stemmer_french")
public final class FrenchStemmerFactory extends LuceneTokenFilterFactory {
    public FrenchStemmerFactory() {
        super(FrenchLightStemFilter::new);
    }
}
