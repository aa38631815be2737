package io.wirewatch.es.analysis;

import org.apache.lucene.analysis.Analyzer;
import org.apache.lucene.analysis.LowerCaseFilter;
import org.apache.lucene.analysis.TokenStream;
import org.apache.lucene.analysis.Tokenizer;
import org.apache.lucene.analysis.miscellaneous.ASCIIFoldingFilter;
import org.apache.lucene.analysis.standard.StandardTokenizer;

/**
 * Standard tokenizer, lowercase, ASCII folding: for names, where "Müller", "MULLER"
 * and "muller" must match and no language's stemming applies.
 */
final class FoldingAnalyzer extends Analyzer {
    @Override
    protected TokenStreamComponents createComponents(String fieldName) {
        Tokenizer source = new StandardTokenizer();
        return new TokenStreamComponents(source, fold(source));
    }

    // Wildcard, prefix and fuzzy query terms go through normalize(), not the full
    // chain: fold them too so "Mül*" finds "Müller".
    @Override
    protected TokenStream normalize(String fieldName, TokenStream in) {
        return fold(in);
    }

    private static TokenStream fold(TokenStream in) {
        return new ASCIIFoldingFilter(new LowerCaseFilter(in));
    }
}
