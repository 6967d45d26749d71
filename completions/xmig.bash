# bash completion for xmig(1)                                  -*- shell-script -*-
#
# Works with the bash-completion package and with plain bash: source this
# file, or install it as <datadir>/bash-completion/completions/xmig.
#
# Job names (--job) come from `xmig ps --json` (with jq when it is there,
# else grep and sed); GPUs (--to) are gpu0..gpuN-1, N from nvidia-smi, else
# $XMIG_SIM_GPUS on the sim device, else 8.

# Commands, and each command's options. plan, apply, nodes and ps --all are
# listed for the versions of xmig that have them.
_xmig_commands='run ps freeze thaw snapshot suspend resume migrate version plan apply nodes help'

_xmig_options() {
	local move='-J --job -r --rank -j --json --help'
	case $1 in
	'') echo '--nodes -v --verbose -h --help -V --version' ;;
	run) echo '-j --job -g --gpu -s --share -d --device -r --rank --help --' ;;
	ps) echo '-j --json -J --job -a --all --help' ;;
	freeze) echo "$move -t --timeout" ;;
	thaw) echo "$move" ;;
	snapshot | suspend) echo "$move -o --output" ;;
	resume) echo "$move -t --to" ;;
	migrate) echo "$move -t --to -z --zero-copy -n --dry-run" ;;
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
	run:-j | run:--job | run:-g | run:--gpu | run:-s | run:--share | run:-d | run:--device | \
		run:-r | run:--rank) return 0 ;;
	run:* | version:* | nodes:*) return 1 ;;
	*:-J | *:--job | *:-r | *:--rank) return 0 ;;
	freeze:-t | freeze:--timeout | resume:-t | resume:--to | migrate:-t | migrate:--to) return 0 ;;
	snapshot:-o | snapshot:--output | suspend:-o | suspend:--output) return 0 ;;
	plan:-s | plan:--state | plan:--objective | plan:-a | plan:--algorithm | plan:--max-moves | \
		plan:--max-bytes | plan:-c | plan:--concurrency | plan:-o | plan:--output | plan:--check | \
		plan:--intra-bandwidth | plan:--inter-bandwidth | plan:--move-overhead | \
		plan:--time-limit | plan:--threshold) return 0 ;;
	apply:-c | apply:--concurrency | apply:-s | apply:--state | apply:--on-error) return 0 ;;
	esac
	return 1
}

_xmig_jobs() {
	local json
	json=$("$1" ps --json 2>/dev/null) || return 0
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

# Complete the value of option $2 of command $1 for the word $3.
_xmig_value() {
	local cmd=$1 opt=$2 cur=$3 xmig=$4
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
	resume:-t | resume:--to | migrate:-t | migrate:--to)
		mapfile -t COMPREPLY < <(compgen -W "$(_xmig_gpus gpu)" -- "$cur") ;;
	run:*) ;;   # a new job name, a rank, a share: nothing to offer
	*:-J | *:--job)
		mapfile -t COMPREPLY < <(compgen -W "$(_xmig_jobs "$xmig")" -- "$cur") ;;
	plan:--objective)
		mapfile -t COMPREPLY < <(compgen -W 'nodes gpus' -- "$cur") ;;
	plan:-a | plan:--algorithm)
		mapfile -t COMPREPLY < <(compgen -W 'xmig ffd bestfit-drain descheduler fgd ilp' -- "$cur") ;;
	apply:--on-error)
		mapfile -t COMPREPLY < <(compgen -W 'stop continue' -- "$cur") ;;
	esac
}

_xmig() {
	local cur=${COMP_WORDS[COMP_CWORD]} xmig=${COMP_WORDS[0]}
	local cmd='' i=1 w prev opt

	COMPREPLY=()
	# The command: the first word after the global options.
	while [ "$i" -lt "$COMP_CWORD" ]; do
		w=${COMP_WORDS[i]}
		case $w in
		--nodes) [ "${COMP_WORDS[i + 1]}" = = ] && i=$((i + 1)); i=$((i + 2)); continue ;;
		-*) ;;
		*) cmd=$w; break ;;
		esac
		i=$((i + 1))
	done
	# Run the xmig that is being completed if it is a path, else the one on PATH.
	case $xmig in */*) [ -x "$xmig" ] || xmig=xmig ;; *) xmig=xmig ;; esac

	# xmig run ... COMMAND: complete the program and then its own arguments.
	if [ "$cmd" = run ]; then
		local j=$((i + 1))
		while [ "$j" -lt "$COMP_CWORD" ]; do
			w=${COMP_WORDS[j]}
			if [ "$w" = -- ]; then j=$((j + 1)); break; fi
			case $w in
			--*=*) ;;
			-*)
				if _xmig_takes_value run "$w"; then
					[ "${COMP_WORDS[j + 1]}" = = ] && j=$((j + 1))
					j=$((j + 1))
				fi ;;
			*) break ;;
			esac
			j=$((j + 1))
		done
		if [ "$j" -lt "$COMP_CWORD" ] || { [ "$j" -eq "$COMP_CWORD" ] && [ "${COMP_WORDS[j - 1]}" = -- ]; }; then
			if declare -F _command_offset >/dev/null; then
				_command_offset "$j"
			elif [ "$j" -eq "$COMP_CWORD" ]; then
				mapfile -t COMPREPLY < <(compgen -c -- "$cur")
			else
				compopt -o filenames 2>/dev/null
				mapfile -t COMPREPLY < <(compgen -f -- "$cur")
			fi
			return 0
		fi
	fi

	# The value of an option: "--job NAME", "--job=NAME" (split at '=' by bash or not).
	prev=${COMP_WORDS[COMP_CWORD - 1]}
	if [ "$cur" = = ] && [ "$COMP_CWORD" -ge 2 ]; then
		_xmig_value "$cmd" "$prev" '' "$xmig"
		return 0
	fi
	if [ "$prev" = = ] && [ "$COMP_CWORD" -ge 3 ]; then
		_xmig_value "$cmd" "${COMP_WORDS[COMP_CWORD - 2]}" "$cur" "$xmig"
		return 0
	fi
	case $cur in
	--*=*)
		opt=${cur%%=*}
		_xmig_value "$cmd" "$opt" "${cur#*=}" "$xmig"
		return 0 ;;
	esac
	if [ "$COMP_CWORD" -gt 1 ] && _xmig_takes_value "$cmd" "$prev"; then
		_xmig_value "$cmd" "$prev" "$cur" "$xmig"
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
