package io.wirewatch.es.analysis;

import org.apache.lucene.analysis.de.GermanLightStemFilter;
import org.apache.lucene.analysis.de.GermanNormalizationFilter;
import org.elasticsearch.plugin.NamedComponent;

/** {@code ww_stemmer_german}: Lucene's GermanNormalizationFilter then GermanLightStemFilter, the stemming stage of {@code ww_german}. */
@NamedComponent("ww_stemmer_german")
public final class GermanStemmerFactory extends LuceneTokenFilterFactory {
    public GermanStemmerFactory() {
        super(in -> new GermanLightStemFilter(new GermanNormalizationFilter(in)));
    }
}
