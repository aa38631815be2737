package io.wirewatch.es.analysis;

import java.util.Objects;
import java.util.function.Supplier;
import org.apache.lucene.analysis.Analyzer;
import org.elasticsearch.plugin.analysis.AnalyzerFactory;

/**
 * An analyzer component that hands out a Lucene analyzer as Lucene configures it by
 * default. Subclasses only name the component and pick the analyzer; Elasticsearch
 * instantiates them through their single public no-argument constructor.
 */
abstract class LuceneAnalyzerFactory implements AnalyzerFactory {
    private final Supplier<Analyzer> analyzer;

    LuceneAnalyzerFactory(Supplier<Analyzer> analyzer) {
        this.analyzer = Objects.requireNonNull(analyzer, "analyzer");
    }

    @Override
    public final Analyzer create() {
        return analyzer.get();
    }
}
