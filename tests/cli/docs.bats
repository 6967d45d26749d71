#!/usr/bin/env bats
# docs.bats - the documentation follows the program: a man page for every
# command that renders and names every option, completions that offer every
# command and option, a README that mentions every command, and JSON schemas
# whose required fields the live --json outputs carry.

load ../helpers

setup() { xmig_setup; }
teardown() { xmig_teardown; }

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

# The members of .required of schema $1 at jq path $2 that JSON object $3
# lacks, one a line; fails if that schema has no required list.
missing_fields() {
	jq -n -r --slurpfile s "$1" --argjson d "$3" --arg at "$2" \
		"(\$s[0] | $2 | .required) as \$r | if (\$r | type) != \"array\" or (\$r | length) == 0
		 then error(\"no required fields at \" + \$at) else \$r - (\$d | keys) | .[] end"
}

# Every item of {"items":[...]} document $2 has the required fields of $1 at $3.
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
	validate() {   # validate SCHEMA-NAME < JSON
		python3 -c 'import json, sys, jsonschema
jsonschema.Draft202012Validator(json.load(open(sys.argv[1]))).validate(json.load(sys.stdin))' \
			"$ROOT/share/schema/$1"
	}
	"$XMIG" ps --json | validate ps.schema.json
	"$XMIG" migrate --job v1 --to gpu1 --json 2>/dev/null | validate migrate.schema.json
	"$XMIG" migrate --job v1 --to gpu1 --zero-copy --json 2>/dev/null | validate migrate.schema.json
	"$XMIG" migrate --job v1 --to gpu0 --dry-run --json | validate migrate.schema.json
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
