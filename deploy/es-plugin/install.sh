#!/usr/bin/env bash
# Build the wirewatch-analysis plugin and install (or replace) it in an unpacked
# Elasticsearch distribution.
#
#   deploy/es-plugin/install.sh ES_HOME [ES_VERSION]
#
# ES_VERSION defaults to the version in ES_HOME's lib/elasticsearch-<v>.jar; the Lucene
# version is always read from ES_HOME/lib, so the plugin compiles against exactly the
# jars it will run with. Run it as the user that owns ES_HOME (root in `wirewatch stack
# fetch`), with the node STOPPED: Elasticsearch reads plugins only at start-up. The
# files it installs are world-readable, so the unprivileged node user can load them.
# ES_JAVA_HOME defaults to the JDK of `java` on PATH: the integ-test zip bundles none.
set -euo pipefail

plugin_name=wirewatch-analysis
here=$(cd "$(dirname "$0")" && pwd)

die() { echo "install.sh: $*" >&2; exit 1; }

# The version in lib/<prefix><version>.jar, or nothing.
jar_version() {
    local jar
    jar=$(ls "$1"/lib/"$2"[0-9]*.jar 2>/dev/null | head -n 1) || true
    [[ -n "$jar" ]] && basename "$jar" .jar | sed "s/^$2//"
}

[[ $# -ge 1 && $# -le 2 ]] || die "usage: install.sh ES_HOME [ES_VERSION]"
es_home=$(cd "$1" 2>/dev/null && pwd) || die "ES_HOME not found: $1"
tool="$es_home/bin/elasticsearch-plugin"
[[ -x "$tool" ]] || die "not an Elasticsearch home (no bin/elasticsearch-plugin): $es_home"
shipped_es=$(jar_version "$es_home" elasticsearch-) || die "no lib/elasticsearch-<version>.jar in $es_home"
es_version=${2:-$shipped_es}
[[ "$es_version" == "$shipped_es" ]] || die "ES_VERSION $es_version does not match $es_home (ships $shipped_es)"
lucene_version=$(jar_version "$es_home" lucene-core-) || die "no lib/lucene-core-<version>.jar in $es_home"

if [[ -z "${ES_JAVA_HOME:-}" ]]; then
    java_bin=$(command -v java) || die "no java on PATH and ES_JAVA_HOME unset"
    ES_JAVA_HOME=$(dirname "$(dirname "$(readlink -f "$java_bin")")")
fi
export ES_JAVA_HOME

command -v mvn >/dev/null || die "Maven not found: install it (Debian/Ubuntu: apt-get install maven)"
# A fresh target/ each time (rather than the clean plugin: one Maven plugin fewer).
rm -rf "$here/target"
mvn -q -B -f "$here/pom.xml" package \
    "-Delasticsearch.version=$es_version" "-Dlucene.version=$lucene_version"
zip=$(ls "$here"/target/$plugin_name-*.zip | head -n 1)

# Replace rather than fail on re-runs: `install` refuses an already installed plugin.
if [[ -d "$es_home/plugins/$plugin_name" ]]; then
    "$tool" remove --purge "$plugin_name" >/dev/null
fi
# --batch: no interactive prompt. The tool checks the descriptor and that the plugin
# was built for this Elasticsearch version.
"$tool" install --batch "file://$zip"
