#!/bin/sh
# gen-version-script.sh SYMS [VERSION] - a linker version script exporting
# exactly the real library's symbols, under its version node if it has one.
set -eu
syms=$1 node=${2:-}
if [ -n "$node" ]; then echo "$node {"; else echo "{"; fi
echo "global:"
sed 's/.*/	&;/' "$syms"
echo "	xmig_facade_*;"
echo "local: *;"
echo "};"
