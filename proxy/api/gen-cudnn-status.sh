#!/bin/sh
# gen-cudnn-status.sh HEADER - the members of cudnnStatus_t (cudnn_graph_v9.h,
# an anonymous typedef enum) as X(NAME, VALUE) lines of the X-macro
# XMIG_CUDNN_STATUSES; deprecated aliases are left out.
set -eu
echo "/* generated from $(basename "$1") by gen-cudnn-status.sh: do not edit */"
echo "#define XMIG_CUDNN_STATUSES(X) \\"
awk '/^[ \t]+CUDNN_STATUS_[A-Z0-9_]+[ \t]+=[ \t]*[0-9]+,/ {
	v = $3; sub(",", "", v); printf "\tX(%s, %s) \\\n", $1, v }' "$1"
echo
