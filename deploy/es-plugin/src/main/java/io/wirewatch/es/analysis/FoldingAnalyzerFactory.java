package io.wirewatch.es.analysis;

import org.elasticsearch.plugin.NamedComponent;

/** {@code ww_folding}: see {@link FoldingAnalyzer}. */
@NamedComponent("ww_folding")
public final class FoldingAnalyzerFactory extends LuceneAnalyzerFactory {
    public FoldingAnalyzerFactory() {
        super(FoldingAnalyzer::new);
    }
}
