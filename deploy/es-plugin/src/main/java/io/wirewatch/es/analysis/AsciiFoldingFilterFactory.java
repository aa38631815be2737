package io.wirewatch.es.analysis;

import org.apache.lucene.analysis.TokenStream;
import org.apache.lucene.analysis.miscellaneous.ASCIIFoldingFilter;
import org.elasticsearch.plugin.NamedComponent;

/** {@code ww_asciifolding}: Lucene's ASCIIFoldingFilter ("é" to "e"), original dropped. */
@NamedComponent("ww_asciifolding")
public final class AsciiFoldingFilterFactory extends LuceneTokenFilterFactory {
    public AsciiFoldingFilterFactory() {
        super(ASCIIFoldingFilter::new);
    }

    // Folding is a normalization, unlike stemming: custom normalizers and
    // wildcard query terms must be folded as the indexed tokens were.
    @Override
    public TokenStream normalize(TokenStream tokenStream) {
        return new ASCIIFoldingFilter(tokenStream);
    }
}
