#!/usr/bin/env bash
# k8s-binaries.sh: build the real Kubernetes control plane the kubernetes provider's tests run
# against (kube-apiserver from k8s.io/kubernetes and etcd 3.5), from the Go module proxy, into
# a cache outside the checkout. Prints the folder holding the binaries on its last line.
#   .ci/k8s-binaries.sh            # build if missing (~11 min cold on 2 cores, ~0 s cached)
# Env: GARO_K8S_CACHE (default /var/cache/garo/k8s-$K8S_VERSION), K8S_VERSION (default v1.32.2;
# every staging module must exist at v0.<minor>.<patch> on the proxy).
# internal/testkit/k8stest finds the binaries through GARO_K8S_BIN or the default cache folder.
set -euo pipefail
K8S_VERSION=${K8S_VERSION:-v1.32.2}
CACHE=${GARO_K8S_CACHE:-/var/cache/garo/k8s-$K8S_VERSION}
BIN=$CACHE/bin SRC=$CACHE/src

if [[ -x $BIN/kube-apiserver && -x $BIN/etcd ]]; then
	echo "k8s-binaries: cached in $BIN"
	echo "$BIN"
	exit 0
fi

started=$SECONDS
mkdir -p "$SRC/cmd/etcd" "$BIN"
cd "$SRC"
staging="v0.${K8S_VERSION#v1.}"
minor=$(cut -d. -f2 <<<"$K8S_VERSION")
# The staging modules are the "k8s.io/xxx v0.0.0" requirements of k8s.io/kubernetes' go.mod;
# each is replaced by its published release of the same minor and patch.
kmod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
{
	printf 'module local/garo-k8s-binaries\n\ngo 1.23.0\n\ngodebug default=go1.23\n\n'
	printf 'require k8s.io/kubernetes %s\n\nreplace (\n' "$K8S_VERSION"
	awk '/^require \(/{f=1;next} f&&/^\)/{f=0} f&&/k8s.io\/[a-z0-9-]+ v0.0.0$/{print $1}' "$kmod" |
		while read -r m; do printf '\t%s => %s %s\n' "$m" "$m" "$staging"; done
	printf ')\n'
} >go.mod
# etcd 3.5 from its own module (Debian's etcd 3.4 breaks watches against this apiserver).
cat >cmd/etcd/main.go <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
cat >tools.go <<'GO'
//go:build tools

package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
GO
GOFLAGS=-mod=mod go mod tidy
# Without a stamped version clients cannot parse the server's /version.
ldf="-s -w"
for v in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	ldf="$ldf -X $v.gitVersion=$K8S_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$minor -X $v.gitTreeState=clean"
done
tmp=$(mktemp -d "$CACHE/bin.XXXX")
go build -trimpath -ldflags="$ldf" -o "$tmp/" k8s.io/kubernetes/cmd/kube-apiserver ./cmd/etcd
mv "$tmp"/* "$BIN/" && rmdir "$tmp"
echo "k8s-binaries: built in $((SECONDS - started))s into $BIN"
echo "$BIN"
