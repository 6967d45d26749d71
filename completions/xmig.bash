# bash completion for xmig(1)                                  -*- shell-script -*-
#
# Works with the bash-completion package and with plain bash: source this
# file, or install it as <datadir>/bash-completion/completions/xmig.
#
# Job names (--job) come from `xmig ps --json` (with jq when it is there,
# else grep and sed); GPUs (--to) are gpu0..gpuN-1, N from nvidia-smi, else
# $XMIG_SIM_GPUS on the sim device, else 8; migrate --to also offers
# NODE:gpuN for every GPU that `xmig nodes --json` lists. A global --nodes
# FILE is passed on to those commands.

# Commands, and each command's options.
_xmig_commands='run ps freeze thaw snapshot suspend resume migrate version plan apply nodes help'

_xmig_options() {
	local move='-J --job -r --rank -j --json --help'
	case $1 in
	'') echo '--nodes -v --verbose -h --help -V --version' ;;
	run) echo '-J --job -g --gpu -s --share -d --device -r --rank --help --' ;;
	ps) echo '-j --json -J --job -a --all --help' ;;
	freeze) echo "$move -t --timeout" ;;
	thaw) echo "$move" ;;
	snapshot | suspend) echo "$move -o --output" ;;
	resume) echo "$move -t --to" ;;
	migrate) echo "$move -t --to -z --zero-copy -n --dry-run -T --timeout" ;;
	version) echo '-j --json --help' ;;
	plan) echo '-s --state --objective -a --algorithm --max-moves --max-bytes -c --concurrency' \
		'-j --json -o --output --check --intra-bandwidth --inter-bandwidth --move-overhead' \
		'--time-limit --threshold --help' ;;
	apply) echo '--dry-run -c --concurrency -s --state --on-error -j --json --help' ;;
	nodes) echo '-j --json -l --local --help' ;;
	esac
}

# Options that take a value (the value is the next word or follows '=').
_xmig_takes_value() {
	case $1:$2 in
	:--nodes) return 0 ;;
	run:-J | run:-j | run:--job | run:-g | run:--gpu | run:-s | run:--share | run:-d | run:--device | \
		run:-r | run:--rank) return 0 ;;
	run:* | version:* | nodes:*) return 1 ;;
	*:-J | *:--job | *:-r | *:--rank) return 0 ;;
	freeze:-t | freeze:--timeout | resume:-t | resume:--to | migrate:-t | migrate:--to | \
		migrate:-T | migrate:--timeout) return 0 ;;
	snapshot:-o | snapshot:--output | suspend:-o | suspend:--output) return 0 ;;
	plan:-s | plan:--state | plan:--objective | plan:-a | plan:--algorithm | plan:--max-moves | \
		plan:--max-bytes | plan:-c | plan:--concurrency | plan:-o | plan:--output | plan:--check | \
		plan:--intra-bandwidth | plan:--inter-bandwidth | plan:--move-overhead | \
		plan:--time-limit | plan:--threshold) return 0 ;;
	apply:-c | apply:--concurrency | apply:-s | apply:--state | apply:--on-error) return 0 ;;
	esac
	return 1
}

_xmig_jobs() {   # _xmig_jobs XMIG [--nodes FILE]
	local json
	json=$("$@" ps --json 2>/dev/null) || return 0
	if command -v jq >/dev/null 2>&1; then
		printf '%s\n' "$json" | jq -r '.items[].job' 2>/dev/null | sort -u
	else
		printf '%s\n' "$json" | grep -o '"job":"[^"]*"' | sed 's/^"job":"//; s/"$//' | sort -u
	fi
}

_xmig_gpus() {
	local n='' i
	if command -v nvidia-smi >/dev/null 2>&1; then
		n=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
	fi
	if [ -z "$n" ] || [ "$n" -eq 0 ]; then
		if [ "${XMIG_DEVICE:-}" = sim ]; then n=${XMIG_SIM_GPUS:-2}; else n=8; fi
	fi
	for ((i = 0; i < n; i++)); do echo "$1$i"; done
}

# NODE:gpuN of every GPU of every node (`xmig nodes --json`, which lists
# the nodes it could reach even when it fails for another).
_xmig_node_gpus() {   # _xmig_node_gpus XMIG [--nodes FILE]
	local json k v n=''
	json=$("$@" nodes --json 2>/dev/null)
	[ -n "$json" ] || return 0
	if command -v jq >/dev/null 2>&1; then
		printf '%s\n' "$json" |
			jq -r '.nodes[] | .name as $n | .gpus[]? | "\($n):gpu\(.index)"' 2>/dev/null
	else
		# one line of JSON: each node's "name", then its GPUs' "index"
		printf '%s\n' "$json" | grep -o '"name":"[^"]*"\|"index":[0-9]*' |
			sed 's/^"name":"\(.*\)"$/N \1/; s/^"index":/I /' |
			while read -r k v; do
				case $k in N) n=$v ;; I) echo "$n:gpu$v" ;; esac
			done
	fi
}

# Complete the value of option $2 of command $1 for the word $3; the
# xmig to ask is "${@:4}" (the program and a global --nodes FILE).
_xmig_value() {
	local cmd=$1 opt=$2 cur=$3
	shift 3
	case $cmd:$opt in
	:--nodes | plan:-s | plan:--state | plan:--check | plan:-o | plan:--output | apply:-s | \
		apply:--state)
		compopt -o filenames 2>/dev/null
		mapfile -t COMPREPLY < <(compgen -f -- "$cur") ;;
	snapshot:-o | snapshot:--output | suspend:-o | suspend:--output)
		compopt -o filenames 2>/dev/null
		mapfile -t COMPREPLY < <(compgen -d -- "$cur") ;;
	run:-d | run:--device)
		mapfile -t COMPREPLY < <(compgen -W 'cuda sim' -- "$cur") ;;
	run:-g | run:--gpu)
		mapfile -t COMPREPLY < <(compgen -W "$(_xmig_gpus '')" -- "$cur") ;;
	resume:-t | resume:--to)
		mapfile -t COMPREPLY < <(compgen -W "$(_xmig_gpus gpu)" -- "$cur") ;;
	migrate:-t | migrate:--to)
		# a list gives one target per rank: complete what follows the last comma
		local head=${cur%"${cur##*,}"}
		mapfile -t COMPREPLY < <(compgen -P "$head" -W "$(_xmig_gpus gpu; _xmig_node_gpus "$@")" \
			-- "${cur##*,}")
		_xmig_colon_trim "$cur" ;;
	run:*) ;;   # a new job name, a rank, a share: nothing to offer
	*:-J | *:--job)
		mapfile -t COMPREPLY < <(compgen -W "$(_xmig_jobs "$@")" -- "$cur") ;;
	plan:--objective)
		mapfile -t COMPREPLY < <(compgen -W 'nodes gpus' -- "$cur") ;;
	plan:-a | plan:--algorithm)
		mapfile -t COMPREPLY < <(compgen -W 'xmig ffd bestfit-drain descheduler fgd ilp' -- "$cur") ;;
	apply:--on-error)
		mapfile -t COMPREPLY < <(compgen -W 'stop continue' -- "$cur") ;;
	esac
}

# bash splits a word at ':' (it is in COMP_WORDBREAKS): "n2:gpu1" comes as
# "n2" ":" "gpu1". Into words[] and cword: COMP_WORDS with such pieces
# joined again, where the line has no blank between them.
_xmig_words() {
	local line=$COMP_LINE i j=0 rest
	words=() cword=0
	for ((i = 0; i < ${#COMP_WORDS[@]}; i++)); do
		rest=${line#"${line%%[![:space:]]*}"}
		if [ "$i" -gt 0 ] && [ "${#rest}" -eq "${#line}" ] &&
			{ [ "${COMP_WORDS[i]}" = : ] || [[ ${words[j]} == *: ]]; }; then
			words[j]+=${COMP_WORDS[i]}
		else
			[ "$i" -gt 0 ] && j=$((j + 1))
			words[j]=${COMP_WORDS[i]}
		fi
		line=${rest#"${COMP_WORDS[i]}"}
		[ "$i" -eq "$COMP_CWORD" ] && cword=$j
	done
}

# Readline replaces only what follows the last ':' of the word: drop the
# part of each reply up to there (as bash-completion's
# __ltrim_colon_completions does).
_xmig_colon_trim() {
	local pre i
	if [[ $1 == *:* && $COMP_WORDBREAKS == *:* ]]; then
		pre=${1%"${1##*:}"}
		for i in "${!COMPREPLY[@]}"; do COMPREPLY[i]=${COMPREPLY[i]#"$pre"}; done
	fi
}

_xmig() {
	local -a words xmig
	local cword cur cmd='' i=1 w prev opt

	_xmig_words
	cur=${words[cword]}
	COMPREPLY=()
	# Run the xmig that is being completed if it is a path, else the one on PATH.
	xmig=("${words[0]}")
	case ${xmig[0]} in */*) [ -x "${xmig[0]}" ] || xmig=(xmig) ;; *) xmig=(xmig) ;; esac
	# The command: the first word after the global options (--nodes FILE is
	# passed on to the xmig that is asked for jobs and nodes).
	while [ "$i" -lt "$cword" ]; do
		w=${words[i]}
		case $w in
		--nodes)
			[ "${words[i + 1]}" = = ] && i=$((i + 1))
			[ $((i + 1)) -lt "$cword" ] && xmig+=(--nodes "${words[i + 1]}")
			i=$((i + 2))
			continue ;;
		--nodes=?*) xmig+=(--nodes "${w#--nodes=}") ;;
		-*) ;;
		*) cmd=$w; break ;;
		esac
		i=$((i + 1))
	done

	# xmig run ... COMMAND: complete the program and then its own arguments.
	if [ "$cmd" = run ]; then
		local j=$((i + 1))
		while [ "$j" -lt "$cword" ]; do
			w=${words[j]}
			if [ "$w" = -- ]; then j=$((j + 1)); break; fi
			case $w in
			--*=*) ;;
			-*)
				if _xmig_takes_value run "$w"; then
					[ "${words[j + 1]}" = = ] && j=$((j + 1))
					j=$((j + 1))
				fi ;;
			*) break ;;
			esac
			j=$((j + 1))
		done
		if [ "$j" -lt "$cword" ] || { [ "$j" -eq "$cword" ] && [ "${words[j - 1]}" = -- ]; }; then
			if declare -F _command_offset >/dev/null; then
				_command_offset "$j"
			elif [ "$j" -eq "$cword" ]; then
				mapfile -t COMPREPLY < <(compgen -c -- "$cur")
			else
				compopt -o filenames 2>/dev/null
				mapfile -t COMPREPLY < <(compgen -f -- "$cur")
			fi
			return 0
		fi
	fi

	# The value of an option: "--job NAME", "--job=NAME" (split at '=' by bash or not).
	prev=${words[cword - 1]}
	if [ "$cur" = = ] && [ "$cword" -ge 2 ]; then
		_xmig_value "$cmd" "$prev" '' "${xmig[@]}"
		return 0
	fi
	if [ "$prev" = = ] && [ "$cword" -ge 3 ]; then
		_xmig_value "$cmd" "${words[cword - 2]}" "$cur" "${xmig[@]}"
		return 0
	fi
	case $cur in
	--*=*)
		opt=${cur%%=*}
		_xmig_value "$cmd" "$opt" "${cur#*=}" "${xmig[@]}"
		return 0 ;;
	esac
	if [ "$cword" -gt 1 ] && _xmig_takes_value "$cmd" "$prev"; then
		_xmig_value "$cmd" "$prev" "$cur" "${xmig[@]}"
		return 0
	fi

	if [ -z "$cmd" ]; then
		if [[ $cur == -* ]]; then
			mapfile -t COMPREPLY < <(compgen -W "$(_xmig_options '')" -- "$cur")
		else
			mapfile -t COMPREPLY < <(compgen -W "$_xmig_commands" -- "$cur")
		fi
		return 0
	fi
	if [[ $cur == -* ]]; then
		mapfile -t COMPREPLY < <(compgen -W "$(_xmig_options "$cmd")" -- "$cur")
	elif [ "$cmd" = apply ]; then
		compopt -o filenames 2>/dev/null
		mapfile -t COMPREPLY < <(compgen -f -- "$cur")
	elif [ "$cmd" = run ]; then
		mapfile -t COMPREPLY < <(compgen -c -- "$cur")
	fi
	return 0
}

complete -F _xmig xmig
