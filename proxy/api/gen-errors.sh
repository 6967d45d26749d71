#!/bin/sh
# gen-errors.sh HEADER ENUM PREFIX MACRO - list "NAME = VALUE" members of one
# enum of a CUDA header as X(NAME, VALUE) lines of an X-macro named MACRO.
#   gen-errors.sh driver_types.h cudaError cudaError XMIG_CUDART_ERRORS
set -eu
header=$1 enum=$2 prefix=$3 macro=$4
echo "/* generated from $(basename "$header") by gen-errors.sh: do not edit */"
echo "#define $macro(X) \\"
awk -v enum="$enum" -v prefix="$prefix" '
	$0 ~ "^(typedef )?enum (__device_builtin__ )?" enum "( |$)" { inside = 1; next }
	inside && /^}/ { exit }
	inside {
		line = $0
		sub(/\/\*.*\*\//, "", line)
		if (match(line, "^[ \t]*" prefix "[A-Za-z0-9_]*[ \t]*=[ \t]*[0-9]+")) {
			split(substr(line, RSTART, RLENGTH), kv, "=")
			gsub(/[ \t]/, "", kv[1]); gsub(/[ \t]/, "", kv[2])
			printf "\tX(%s, %s) \\\n", kv[1], kv[2]
		}
	}' "$header"
echo
