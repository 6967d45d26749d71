#!/bin/sh
# deps.sh - check (and, as root on Debian, install) everything xmig builds and
# tests with. Prints exactly what is missing and exits 1 if anything still is.
#
#   share/deps.sh [--install] [--need-nvcc]
set -u

DEBIAN_PKGS="gcc make pkg-config libuv1-dev libjansson-dev libxxhash-dev libibverbs-dev socat \
libglpk-dev bats bats-assert bats-support parallel scdoc iproute2 jq util-linux procps python3-jsonschema \
zsh"
install=0
for a in "$@"; do
	case $a in
	--install) install=1 ;;
	*) echo "deps.sh: unknown option $a" >&2; exit 2 ;;
	esac
done

missing=""
for p in $DEBIAN_PKGS; do
	s=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)
	case $s in
	*"install ok installed"*) ;;
	*) missing="$missing $p" ;;
	esac
done

if [ -n "$missing" ] && [ "$install" = 1 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
	echo "deps.sh: installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	# shellcheck disable=SC2086
	if ! apt-get install -y --no-install-recommends $missing >/dev/null 2>&1; then
		apt-get update >/dev/null 2>&1 || true
		apt-get install -y --no-install-recommends $missing >/dev/null || true
	fi
	missing=""
	for p in $DEBIAN_PKGS; do
		s=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)
		case $s in *"install ok installed"*) ;; *) missing="$missing $p" ;; esac
	done
fi

rc=0
if [ -n "$missing" ]; then
	echo "deps.sh: missing Debian packages:$missing" >&2
	if [ "$(id -u)" != 0 ]; then
		echo "deps.sh: run 'sudo apt-get install$missing' or 'sudo make deps'" >&2
	fi
	rc=1
fi

# The CUDA Toolkit (13.x: nvcc, headers, libcudart.so.13) is not a Debian
# package of that version; it is NVIDIA's, usually under /usr/local/cuda.
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
if [ ! -f "$CUDA_HOME/include/cuda_runtime_api.h" ] || [ ! -x "$CUDA_HOME/bin/nvcc" ]; then
	echo "deps.sh: CUDA Toolkit 13 not found at CUDA_HOME=$CUDA_HOME (need bin/nvcc and" \
	     "include/cuda_runtime_api.h); install it from https://developer.nvidia.com/cuda-downloads" \
	     "or set CUDA_HOME" >&2
	rc=1
else
	v=$("$CUDA_HOME/bin/nvcc" --version | sed -n 's/.*release \([0-9]*\)\..*/\1/p')
	if [ "${v:-0}" -lt 13 ]; then
		echo "deps.sh: CUDA Toolkit at $CUDA_HOME is release $v; xmig needs 13" >&2
		rc=1
	fi
	# The facades of cuBLAS, cuDNN and NCCL are built against their headers
	# (NVIDIA's packages libcublas-dev-13-x, libcudnn9-dev-cuda-13, libnccl-dev).
	for h in cublas_api.h:libcublas-dev-13-0 cudnn.h:libcudnn9-dev-cuda-13 nccl.h:libnccl-dev; do
		if [ ! -f "$CUDA_HOME/include/${h%%:*}" ] && [ ! -f "/usr/include/${h%%:*}" ]; then
			echo "deps.sh: ${h%%:*} not found in $CUDA_HOME/include or /usr/include;" \
			     "install NVIDIA's ${h##*:} (https://developer.nvidia.com/cuda-downloads)" >&2
			rc=1
		fi
	done
fi
exit $rc
