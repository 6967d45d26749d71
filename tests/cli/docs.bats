#!/usr/bin/env bats
# docs.bats - the documentation follows the program: a man page for every
# command that renders and names every option, completions that offer every
# command and option, a README that mentions every command, and JSON schemas
# whose required fields the live --json outputs carry, on one node and
# across two (two runtime directories of one host, the second reached
# through an `env` prefix: no root needed).

load ../helpers

setup() { xmig_setup; RT0=$XMIG_RUNTIME_DIR; }
teardown() {
	local s
	# the applications of two_nodes' node directories
	for s in "$RT0"/*/jobs/*/*.sock; do
		[ -e "$s" ] && kill -9 "$(basename "$s" .sock)" 2>/dev/null
	done
	export XMIG_RUNTIME_DIR=$RT0
	xmig_teardown
}

# Two nodes, a and b, on this host: each its own runtime directory (and so
# its own sim GPUs and jobs), b reached through an `env` prefix, both at
# 127.0.0.1. The test then runs as node a.
two_nodes() {
	NODES="$BATS_TEST_TMPDIR/nodes.conf"
	mkdir -p "$RT0/a" "$RT0/b"
	cat >"$NODES" <<-EOF
	# two nodes on one host (docs.bats)
	a 127.0.0.1 env XMIG_NODE=a XMIG_RUNTIME_DIR=$RT0/a
	b 127.0.0.1 env XMIG_NODE=b XMIG_RUNTIME_DIR=$RT0/b
	EOF
	export XMIG_NODES=$NODES XMIG_NODE=a XMIG_RUNTIME_DIR=$RT0/a
}

# The commands `xmig --help` lists, one a line.
commands() {
	"$XMIG" --help | sed -n '/^Commands:/,/^$/p' | sed -n 's/^  \([a-z][a-z-]*\) .*/\1/p'
}

# The long options `xmig CMD --help` lists (without argp's own), one a line:
# from the option lines ("  -j, --json ...", "      --usage"), not the prose.
long_options() {
	"$XMIG" "$1" --help | sed -n 's/^ \{2,\}\(-[^ ,-], \)\{0,1\}\(--[a-z][a-z-]*\).*/\2/p' |
		grep -v -x -e '--help' -e '--usage' -e '--version' | sort -u
}

# Complete the words "$@" (the last one is the word being completed) with
# completions/xmig.bash in a plain bash, as bash does for `complete -F`.
complete_bash() {
	"$BASH" --norc --noprofile -c '
		source "$0" || exit 1
		complete -p xmig | grep -q -- "-F _xmig" || { echo "no complete -F for xmig"; exit 1; }
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
		_xmig xmig "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
		printf "%s\n" "${COMPREPLY[@]}"' "$ROOT/completions/xmig.bash" "$@"
}

# Complete the line $1, cursor at its end, split into words as bash does:
# at blanks, and at ':' and '=' (in COMP_WORDBREAKS), which become words.
complete_line() {
	"$BASH" --norc --noprofile -c '
		source "$0" || exit 1
		COMP_LINE=$1; COMP_POINT=${#1}; COMP_WORDS=(); w=
		for ((k = 0; k < ${#1}; k++)); do
			c=${1:k:1}
			case $c in
			" ") [ -n "$w" ] && COMP_WORDS+=("$w"); w= ;;
			[:=]) [ -n "$w" ] && COMP_WORDS+=("$w"); COMP_WORDS+=("$c"); w= ;;
			*) w+=$c ;;
			esac
		done
		case $1 in *[:=]) ;; *) COMP_WORDS+=("$w") ;; esac
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		_xmig xmig "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
		printf "%s\n" "${COMPREPLY[@]}"' "$ROOT/completions/xmig.bash" "$1"
}

# The matches zsh offers for the line $1 (completions/_xmig), one a line.
complete_zsh() {
	timeout 60 zsh -f "$BATS_TEST_DIRNAME/zsh-complete.zsh" "$ROOT/completions" "$1"
}

validate() {   # validate SCHEMA-NAME < JSON
	python3 -c 'import json, sys, jsonschema
jsonschema.Draft202012Validator(json.load(open(sys.argv[1]))).validate(json.load(sys.stdin))' \
		"$ROOT/share/schema/$1"
}

# The members of .required of schema $1 at jq path $2 that JSON object $3
# lacks, one a line; fails if that schema has no required list.
missing_fields() {
	jq -n -r --slurpfile s "$1" --argjson d "$3" --arg at "$2" \
		"(\$s[0] | $2 | .required) as \$r | if (\$r | type) != \"array\" or (\$r | length) == 0
		 then error(\"no required fields at \" + \$at) else \$r - (\$d | keys) | .[] end"
}

# The members of JSON object $2 that the schema $1 describes in none of
# the objects at jq paths $3... (their .properties), one a line.
undocumented() {   # undocumented SCHEMA JSON JQ-PATH...
	local schema=$1 obj=$2 paths=''
	shift 2
	for p in "$@"; do paths+="($p | .properties // {} | keys),"; done
	jq -n -r --slurpfile s "$schema" --argjson d "$obj" \
		"(\$s[0] | [${paths%,}] | add) as \$k | (\$d | keys) - \$k | .[]"
}

# Every item of {"items":[...]} document $2 has the required fields of $1 at
# $3, and (unless $3 is $defs.item itself) no field that the schema does not
# describe there or in $defs.item.
items_complete() {   # items_complete SCHEMA-NAME JSON JQ-PATH
	local schema="$ROOT/share/schema/$1" n i item
	n=$(jq '.items | length' <<<"$2")
	[ "$n" -gt 0 ] || { echo "no items in: $2"; return 1; }
	run missing_fields "$schema" '.' "$2"
	assert_success
	assert_output ""
	for ((i = 0; i < n; i++)); do
		item=$(jq -c ".items[$i]" <<<"$2")
		run missing_fields "$schema" "$3" "$item"
		assert_success
		assert_output ""
		# (the item's variant, when there are several, says the rest)
		[ "$3" = '."$defs".item' ] && continue
		run undocumented "$schema" "$item" "$3" '."$defs".item'
		assert_success
		assert_output ""
	done
}

start_job() {   # start_job JOB
	need_program zdtm
	"$XMIG" run --job "$1" -- "$CUDA_BIN/zdtm" --mib 8 --iters 2000 --sleep-ms 10 \
		>"$BATS_TEST_TMPDIR/$1.out" 2>&1 &
	wait_job "$1"
}

@test "docs: xmig --help lists the commands" {
	run commands
	assert_success
	assert_line run
	assert_line migrate
	assert_line version
}

@test "docs: every command has a man page that renders and names each of its options" {
	command -v scdoc >/dev/null || skip "no scdoc"
	for c in $(commands); do
		page="$ROOT/share/man/xmig-$c.1.scd"
		[ -f "$page" ] || { echo "no man page $page"; return 1; }
		run scdoc <"$page"
		assert_success
		for section in NAME SYNOPSIS DESCRIPTION OPTIONS "(JSON )?OUTPUT" "EXIT STATUS" EXAMPLES \
			"SEE ALSO"; do
			grep -q -E -x "# $section" "$page" || { echo "$page lacks # $section"; return 1; }
		done
		for o in $(long_options "$c"); do
			grep -q -- "\*$o\*" "$page" || { echo "$page does not describe $o"; return 1; }
		done
		grep -q "^\*$c\*" "$ROOT/share/man/xmig.1.scd" || { echo "xmig.1 lacks $c"; return 1; }
	done
	for page in "$ROOT/share/man/xmig.1.scd" "$ROOT/share/man/xmig-proxy.8.scd"; do
		run scdoc <"$page"
		assert_success
	done
}

@test "docs: xmig(1) gives every exit status of lib/xmig.h" {
	statuses=$(sed -n 's/^[[:space:]]*XMIG_EXIT_[A-Z_]* = \([0-9]*\),.*/\1/p' "$ROOT/lib/xmig.h")
	[ -n "$statuses" ]
	for s in $statuses; do
		grep -q "^\*$s\*" "$ROOT/share/man/xmig.1.scd" ||
			grep -q "^\*[0-9]*\*, \*$s\*" "$ROOT/share/man/xmig.1.scd" ||
			{ echo "xmig.1 does not describe exit status $s"; return 1; }
	done
}

@test "docs: the bash completion offers every command" {
	run complete_bash xmig ''
	assert_success
	for c in $(commands); do
		assert_line "$c"
	done
	run complete_bash xmig mi
	assert_output migrate
}

@test "docs: the bash completion offers each command's options" {
	for c in $(commands); do
		run complete_bash xmig "$c" -
		assert_success
		for o in $(long_options "$c"); do
			assert_line -- "$o"
		done
	done
	run complete_bash xmig -
	assert_line --nodes
	assert_line --verbose
	# run's -J (its --help's spelling) takes a value, as --job does
	run complete_bash xmig run -
	assert_line -- -J
	run complete_bash xmig run -J demo --
	assert_line -- --gpu
}

@test "docs: the bash completion completes job names (with jq and without) and GPUs" {
	start_job alpha
	start_job beta
	run complete_bash "$XMIG" migrate --job ''
	assert_success
	assert_output "alpha
beta"
	run complete_bash "$XMIG" freeze --job=a
	assert_output alpha
	# Without jq: grep and sed.
	mkdir "$BATS_TEST_TMPDIR/bin"
	for t in grep sed sort; do ln -s "$(command -v $t)" "$BATS_TEST_TMPDIR/bin/$t"; done
	PATH="$BATS_TEST_TMPDIR/bin" run complete_bash "$XMIG" thaw -J b
	assert_output beta
	run complete_bash xmig migrate --job alpha --to ''
	assert_line gpu0
	assert_line gpu1
	run complete_bash xmig run --device ''
	assert_output "cuda
sim"
}

@test "docs: the zsh completion is a #compdef xmig file with every command" {
	f="$ROOT/completions/_xmig"
	run head -1 "$f"
	assert_output "#compdef xmig"
	for c in $(commands) plan apply nodes; do
		grep -q "'$c:" "$f" || { echo "_xmig lacks command $c"; return 1; }
		grep -q "^  $c)\|^  $c|\||$c)" "$f" || { echo "_xmig has no arguments for $c"; return 1; }
	done
	if command -v zsh >/dev/null; then
		run zsh -n "$f"
		assert_success
	fi
}

@test "docs: README.md mentions every command" {
	for c in $(commands); do
		grep -q "xmig $c" "$ROOT/README.md" || { echo "README.md lacks xmig $c"; return 1; }
	done
}

@test "docs: every schema is valid JSON of draft 2020-12" {
	n=0
	for f in "$ROOT"/share/schema/*.json; do
		run jq -e '."$schema" == "https://json-schema.org/draft/2020-12/schema"' "$f"
		assert_success
		n=$((n + 1))
	done
	[ "$n" -ge 9 ]
}

@test "docs: xmig ps --json carries the schema's fields, running and suspended" {
	start_job p1
	out=$("$XMIG" ps --json)
	items_complete ps.schema.json "$out" '."$defs".item'
	items_complete ps.schema.json "$out" '."$defs".proxy'
	"$XMIG" suspend --job p1 -o "$BATS_TEST_TMPDIR/s" 2>/dev/null
	out=$("$XMIG" ps --json)
	items_complete ps.schema.json "$out" '."$defs".item'
	items_complete ps.schema.json "$out" '."$defs".suspended'
	out=$("$XMIG" resume --job p1 --json 2>/dev/null)
	items_complete resume.schema.json "$out" '."$defs".item'
}

@test "docs: the --json outputs of the moving commands carry their schemas' fields" {
	start_job m1
	out=$("$XMIG" migrate --job m1 --to gpu1 --json 2>/dev/null)
	items_complete migrate.schema.json "$out" '."$defs".move'
	run missing_fields "$ROOT/share/schema/migrate.schema.json" \
		'."$defs".move.properties.phases_ms' "$(jq -c '.items[0].phases_ms' <<<"$out")"
	assert_output ""
	run missing_fields "$ROOT/share/schema/migrate.schema.json" \
		'."$defs".move.properties.run_ahead' "$(jq -c '.items[0].run_ahead' <<<"$out")"
	assert_output ""
	out=$("$XMIG" migrate --job m1 --to gpu0 --dry-run --json 2>/dev/null)
	items_complete migrate.schema.json "$out" '."$defs".dry_run'
	out=$("$XMIG" freeze --job m1 --json)
	items_complete freeze.schema.json "$out" '."$defs".item'
	out=$("$XMIG" thaw --job m1 --json)
	items_complete thaw.schema.json "$out" '."$defs".item'
	out=$("$XMIG" snapshot --job m1 -o "$BATS_TEST_TMPDIR/snap" --json 2>/dev/null)
	items_complete snapshot-result.schema.json "$out" '."$defs".item'
	run missing_fields "$ROOT/share/schema/snapshot.schema.json" '.' \
		"$(jq -c . "$BATS_TEST_TMPDIR/snap/manifest.json")"
	assert_output ""
	out=$("$XMIG" suspend --job m1 --json 2>/dev/null)
	items_complete suspend.schema.json "$out" '."$defs".item'
	"$XMIG" resume --job m1 2>/dev/null
	run missing_fields "$ROOT/share/schema/version.schema.json" '.' "$("$XMIG" version --json)"
	assert_output ""
}

@test "docs: the live outputs validate against the schemas (python3-jsonschema)" {
	python3 -c 'import jsonschema' 2>/dev/null || skip "no python3 jsonschema module"
	start_job v1
	"$XMIG" ps --json | validate ps.schema.json
	"$XMIG" migrate --job v1 --to gpu1 --json 2>/dev/null | validate migrate.schema.json
	"$XMIG" migrate --job v1 --to gpu1 --zero-copy --json 2>/dev/null | validate migrate.schema.json
	"$XMIG" migrate --job v1 --to gpu0 --dry-run --json | validate migrate.schema.json
	# a move that fails: its status and last error in the output too
	run --separate-stderr "$XMIG" migrate --job v1 --rank 7 --to gpu0 --json
	assert_failure 3
	validate migrate.schema.json <<<"$output"
	[ "$(jq -r '.error.status' <<<"$output")" = 3 ]
	[ "$(jq -r '.error.message' <<<"$output")" = "$(sed -n 's/^xmig: error: //p' <<<"$stderr" | tail -1)" ]
	# so do the other commands' (no such job: 3; nothing suspended to resume: 3)
	for c in freeze thaw suspend snapshot resume; do
		if [ $c = snapshot ]; then
			run --separate-stderr "$XMIG" snapshot --job nosuchjob -o "$BATS_TEST_TMPDIR/none" --json
		else
			run --separate-stderr "$XMIG" $c --job nosuchjob --json
		fi
		assert_failure 3
		validate "$([ $c = snapshot ] && echo snapshot-result || echo $c).schema.json" <<<"$output"
		[ "$(jq -r '.error.status' <<<"$output")" = 3 ]
		[ -n "$(jq -r '.error.message' <<<"$output")" ]
	done
	"$XMIG" freeze --job v1 --json | validate freeze.schema.json
	"$XMIG" ps --json | validate ps.schema.json
	"$XMIG" thaw --job v1 --json | validate thaw.schema.json
	"$XMIG" snapshot --job v1 -o "$BATS_TEST_TMPDIR/snap" --json 2>/dev/null |
		validate snapshot-result.schema.json
	validate snapshot.schema.json <"$BATS_TEST_TMPDIR/snap/manifest.json"
	"$XMIG" suspend --job v1 --json 2>/dev/null | validate suspend.schema.json
	"$XMIG" ps --json | validate ps.schema.json
	"$XMIG" resume --job v1 --json 2>/dev/null | validate resume.schema.json
	"$XMIG" version --json | validate version.schema.json
	# A lost proxy: its row too.
	kill -9 "$(proxy_pid v1)"
	"$XMIG" ps --json | validate ps.schema.json
	# And a document that breaks the schema is caught.
	run validate ps.schema.json <<<'{"items":[{"job":"v1","rank":0}]}'
	assert_failure
}

@test "docs: every man page renders, and every page it refers to exists" {
	command -v scdoc >/dev/null || skip "no scdoc"
	n=0
	for page in "$ROOT"/share/man/*.scd; do
		run scdoc <"$page"
		assert_success
		# the page's own name heads it: xmig-nodes(1) in xmig-nodes.1.scd
		name=$(basename "$page" .scd)
		run head -1 "$page"
		assert_output "${name%.*}(${name##*.})"
		for ref in $(grep -o '\*xmig[a-z-]*\*([0-9])' "$page" | tr -d '*' | sort -u); do
			f="$ROOT/share/man/${ref%(*}.${ref#*(}"
			f=${f%)}.scd
			[ -f "$f" ] || { echo "$page refers to $ref: no $f"; return 1; }
		done
		n=$((n + 1))
	done
	[ "$n" -ge 14 ]
}

@test "docs: every schema that the code, the man pages and the README cite exists" {
	cited=$(cd "$ROOT" && grep -rhoE 'schema/[a-z-]+\.schema\.json' cmd lib share/man README.md | sort -u)
	[ -n "$cited" ]
	for s in $cited; do
		[ -f "$ROOT/share/$s" ] || { echo "cited, but missing: share/$s"; return 1; }
	done
	for s in nodes ps migrate plan; do
		grep -qx "schema/$s.schema.json" <<<"$cited" || { echo "no page cites $s.schema.json"; return 1; }
	done
}

@test "docs: the files and folders the README names exist" {
	# `dir/file.c`; in the source tour also `dir` and `file.c` in a bullet
	# that starts with `dir/`, `dir` or `dir/other.c`
	awk '/^## / { tour = /Source tour/ }
	     tour && /^- `[A-Za-z0-9_.\/-]+`/ { match($0, /`[^`]*`/); dir = substr($0, RSTART + 1, RLENGTH - 2)
		 if (dir ~ /\.[a-z]+$/) sub(/[^\/]*$/, "", dir); else if (dir !~ /\/$/) dir = dir "/"
		 print dir }
	     !/^(- |  )/ { dir = "" }
	     { while (match($0, /`[A-Za-z0-9_.\/-]+\.(c|h|def|sh|bats|json|scd|md|bash)`/)) {
		   f = substr($0, RSTART + 1, RLENGTH - 2); $0 = substr($0, RSTART + RLENGTH)
		   print (f ~ /\// ? f : dir f) } }' "$ROOT/README.md" | sort -u >"$BATS_TEST_TMPDIR/named"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/named")" -ge 20 ]
	while read -r f; do
		[ -e "$ROOT/$f" ] || { echo "README.md names $f: not in the tree"; return 1; }
	done <"$BATS_TEST_TMPDIR/named"
	for f in proxy/server/executor.c proxy/server/device-remote.c proxy/server/xfer.c \
		proxy/client/cublas.c proxy/client/cudnn.c proxy/client/nccl.c lib/nodes.c; do
		grep -qx "$f" "$BATS_TEST_TMPDIR/named" || { echo "README.md does not name $f"; return 1; }
	done
	for w in "xmig ps --all" "xmig nodes" "--to node2:gpu" "xmig plan" "xmig apply"; do
		grep -q -- "$w" "$ROOT/README.md" || { echo "README.md lacks $w"; return 1; }
	done
}

@test "docs: the bash completion offers NODE:gpuN for migrate --to, split at ':' as bash splits it" {
	two_nodes
	run complete_line "$XMIG migrate --job j --to "
	assert_success
	for t in gpu0 gpu1 a:gpu0 a:gpu1 b:gpu0 b:gpu1; do assert_line "$t"; done
	# readline replaces what follows the ':': the replies are cut there
	run complete_line "$XMIG migrate --job j --to b:"
	assert_output "gpu0
gpu1"
	run complete_line "$XMIG migrate --job j --to=b:gpu1"
	assert_output gpu1
	# a list, one target per rank: what follows the last comma
	run complete_line "$XMIG migrate --job j --to gpu1,"
	assert_line "gpu1,gpu0"
	assert_line "gpu1,b:gpu1"
	run complete_line "$XMIG migrate --job j --to gpu1,b:"
	assert_output "gpu0
gpu1"
	# the global --nodes FILE is the node list asked
	XMIG_NODES= run complete_line "$XMIG --nodes $NODES migrate -t b:g"
	assert_output "gpu0
gpu1"
	XMIG_NODES= run complete_line "$XMIG --nodes=$NODES migrate -t b:g"
	assert_output "gpu0
gpu1"
	# without jq: grep and sed (and env for the node list's prefix)
	mkdir "$BATS_TEST_TMPDIR/bin"
	for t in grep sed sort env; do ln -s "$(command -v $t)" "$BATS_TEST_TMPDIR/bin/$t"; done
	PATH="$BATS_TEST_TMPDIR/bin" run complete_line "$XMIG migrate --job j --to b:"
	assert_output "gpu0
gpu1"
}

@test "docs: the zsh completion offers every command, each command's options, and NODE:gpuN" {
	command -v zsh >/dev/null || skip "no zsh"
	run complete_zsh "$XMIG "
	assert_success
	for c in $(commands); do assert_line "$c"; done
	for c in $(commands); do
		run complete_zsh "$XMIG $c -"
		assert_success
		[ -n "$output" ] || { echo "zsh offers no option of $c"; return 1; }
		for o in $(long_options "$c"); do
			assert_line -- "$o"
		done
	done
	run complete_zsh "$XMIG -"
	assert_line --nodes
	two_nodes
	run complete_zsh "$XMIG migrate --job j --to "
	assert_success
	for t in gpu0 gpu1 a:gpu0 b:gpu1; do assert_line "$t"; done
	XMIG_NODES= run complete_zsh "$XMIG --nodes $NODES migrate --to b:"
	assert_output "b:gpu0
b:gpu1"
}

@test "docs: xmig nodes --json carries the schema's fields: this node, two nodes, an unreachable one" {
	schema="$ROOT/share/schema/nodes.schema.json"
	check_nodes() {   # check_nodes JSON: every answering node and GPU complete
		local n i k
		run missing_fields "$schema" '.' "$1"
		assert_output ""
		n=$(jq '.nodes | length' <<<"$1")
		[ "$n" -gt 0 ]
		for ((i = 0; i < n; i++)); do
			jq -e ".nodes[$i].error" <<<"$1" >/dev/null && continue
			run missing_fields "$schema" '."$defs".node' "$(jq -c ".nodes[$i]" <<<"$1")"
			assert_output ""
			run undocumented "$schema" "$(jq -c ".nodes[$i]" <<<"$1")" '."$defs".node'
			assert_output ""
			k=$(jq ".nodes[$i].gpus | length" <<<"$1")
			[ "$k" -eq "$XMIG_SIM_GPUS" ]
			run missing_fields "$schema" '."$defs".gpu' "$(jq -c ".nodes[$i].gpus[0]" <<<"$1")"
			assert_output ""
			run undocumented "$schema" "$(jq -c ".nodes[$i].gpus[0]" <<<"$1")" '."$defs".gpu'
			assert_output ""
		done
	}
	check_nodes "$("$XMIG" nodes --json)"
	check_nodes "$("$XMIG" nodes --local --json)"
	two_nodes
	out=$("$XMIG" nodes --json)
	check_nodes "$out"
	jq -e '[.nodes[] | .name, .address] == ["a", "127.0.0.1", "b", "127.0.0.1"]' <<<"$out"
	# a node whose prefix fails: status 5, an error member, the others listed
	cp "$NODES" "$BATS_TEST_TMPDIR/bad.conf"
	echo "c 192.0.2.1 false" >>"$BATS_TEST_TMPDIR/bad.conf"
	run --separate-stderr "$XMIG" --nodes "$BATS_TEST_TMPDIR/bad.conf" nodes --json
	assert_equal "$status" 5
	out=$output
	check_nodes "$out"
	bad=$(jq -c '.nodes[2]' <<<"$out")
	run missing_fields "$schema" '."$defs".unreachable' "$bad"
	assert_output ""
	run undocumented "$schema" "$bad" '."$defs".unreachable'
	assert_output ""
	if python3 -c 'import jsonschema' 2>/dev/null; then
		"$XMIG" nodes --json | validate nodes.schema.json
		"$XMIG" nodes --local --json | validate nodes.schema.json
		"$XMIG" --nodes "$BATS_TEST_TMPDIR/bad.conf" nodes --json 2>/dev/null | validate nodes.schema.json
		run validate nodes.schema.json <<<'{"nodes":[{"name":"a","gpus":[]}]}'
		assert_failure
	fi
}

@test "docs: a move to another node and back: migrate, ps --all and --dry-run carry their schemas' fields" {
	two_nodes
	start_job r1
	out=$("$XMIG" migrate --job r1 --to b:gpu1 --json 2>/dev/null)
	items_complete migrate.schema.json "$out" '."$defs".move'
	jq -e '.items[0] | .mode == "stream" and .from == {"node":"a","gpu":0} and .to == {"node":"b","gpu":1}' <<<"$out"
	out=$("$XMIG" ps --all --json)
	items_complete ps.schema.json "$out" '."$defs".proxy'
	jq -e '.items[0] | .node == "b" and .host == "a" and .gpu == 1 and .remote == true' <<<"$out"
	out=$("$XMIG" migrate --job r1 --to a:gpu0 --dry-run --json)
	items_complete migrate.schema.json "$out" '."$defs".dry_run'
	jq -e '.items[0] | .mode == "stream" and .from.node == "b" and .to.node == "a"' <<<"$out"
	if python3 -c 'import jsonschema' 2>/dev/null; then
		"$XMIG" ps --all --json | validate ps.schema.json
		"$XMIG" migrate --job r1 --to a:gpu0 --dry-run --json | validate migrate.schema.json
		"$XMIG" migrate --job r1 --to a:gpu0 --json 2>/dev/null | validate migrate.schema.json
	else
		"$XMIG" migrate --job r1 --to a:gpu0 2>/dev/null
	fi
	out=$("$XMIG" ps --all --json)
	jq -e '.items[0] | .node == "a" and .host == "a" and .remote == false' <<<"$out"
}
