#!/usr/bin/zsh -f
# zsh-complete.zsh DIR LINE - the matches that zsh's completion offers for
# LINE, one a line, with the completion functions of DIR first in $fpath:
# an interactive zsh in a pseudo-terminal, whose compadd also prints what
# it adds, between two markers, and which exits after one completion.
zmodload zsh/zpty || exit 1
zpty z zsh -f -i || exit 1
zpty -w z "fpath=(${(q)1} \$fpath); autoload -Uz compinit; compinit -u -D; PS1=''"
zpty -w z 'bindkey "^I" complete-word; zstyle ":completion:*" list-grouped false'
# The marker is put together when printed, so that the echo of this input
# does not hold it.
zpty -w z '_zc_mark() { print -r -- "<<Z""C>>" }; compprefuncs=(_zc_mark); comppostfuncs=(_zc_mark exit)'
zpty -w z 'compadd() {
  if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "$@"; return; fi
  local -a __h; builtin compadd -A __h "$@"; (( $#__h )) && print -rl -- "M:"${^__h}
  builtin compadd "$@"
}'
zpty -w -n z "$2"$'\t'
out=''
while zpty -r z line; do
	out+=$line
	[[ $out == *'<<ZC>>'*'<<ZC>>'* ]] && break
done
zpty -d z
[[ $out == *'<<ZC>>'*'<<ZC>>'* ]] || { print -u2 "zsh-complete: no completion ran"; exit 1; }
out=${out#*<<ZC>>}
out=${out%%<<ZC>>*}
print -rl -- ${${(M)${(f)out//$'\r'/}:#M:*}#M:}
