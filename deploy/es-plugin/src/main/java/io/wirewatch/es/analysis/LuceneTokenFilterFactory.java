package io.wirewatch.es.analysis;

import java.util.Objects;
import java.util.function.UnaryOperator;
import org.apache.lucene.analysis.TokenStream;
import org.elasticsearch.plugin.analysis.TokenFilterFactory;

/**
 * A token filter component that wraps a stream in Lucene filters. Stemmers leave
 * {@link #normalize} as the API's identity: normalizers and wildcard/fuzzy query terms
 * must not be stemmed.
 */
abstract class LuceneTokenFilterFactory implements TokenFilterFactory {
    private final UnaryOperator<TokenStream> filter;

    LuceneTokenFilterFactory(UnaryOperator<TokenStream> filter) {
        this.filter = Objects.requireNonNull(filter, "filter");
    }

    @Override
    public final TokenStream create(TokenStream tokenStream) {
        return filter.apply(tokenStream);
    }
}
