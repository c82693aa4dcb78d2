# Shared by the program tests: source it, set `program` to the binary under test, then call
# `expect` for each check and `finish` at the end.
failures=0

# expect STATUS TEXT ARGS...: runs "$program" ARGS, checks its exit status and that TEXT appears.
expect() {
  local status=$1 text=$2
  shift 2
  local output got
  output=$("$program" "$@" 2>&1 < /dev/null)
  got=$?
  if [[ $got -ne $status || "$output" != *"$text"* ]]; then
    echo "FAIL: $(basename "$program") $*: exit $got (expected $status); output:"
    echo "$output" | tail -"${cli_output_lines:-5}"
    echo "  (expected to contain: $text)"
    failures=$((failures + 1))
  else
    echo "ok: $(basename "$program") $* -> exit $got"
  fi
}

# fail_check MESSAGE: records a failed check made by the script itself.
fail_check() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

finish() {
  if [[ $failures -gt 0 ]]; then
    echo "$failures check(s) failed"
    exit 1
  fi
  echo "all $(basename "$program") checks passed"
}
